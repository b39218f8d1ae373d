#include "kafka/client.h"

#include <fmt/format.h>

#include <cstring>

#include "base/errc.h"
#include "base/log.h"

namespace aiot::kafka {
namespace {

class KafkaCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "kafka"; }
  std::string message(int ev) const override {
    return rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(ev));
  }
};

// A rd_kafka_conf_t owned until handed to rd_kafka_new.
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

Status SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512];
  const rd_kafka_conf_res_t res =
      rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err);
  if (res == RD_KAFKA_CONF_OK) return {};
  return Status(errc::invalid_argument,
                fmt::format("librdkafka property {}={}: {}", name, value, err));
}

// librdkafka's log lines (syslog levels) into the "kafka" logger instead of stderr. Its errors
// are mostly a broker being unreachable, which the clients ride out: warnings.
void OnLog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  static auto log = log::Get("kafka");
  const char* name = rk != nullptr ? rd_kafka_name(rk) : "librdkafka";
  if (level <= 4) {
    log->warn("{} {}: {}", name, facility, message);
  } else if (level <= 6) {
    log->info("{} {}: {}", name, facility, message);
  } else {
    log->debug("{} {}: {}", name, facility, message);
  }
}

Result<ConfPtr> MakeConf(const Properties& properties) {
  ConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), &OnLog);
  for (const auto& [name, value] : properties) {
    if (Status s = SetProperty(conf.get(), name, value); !s.ok()) return s;
  }
  return conf;
}

// Properties the producer forces; a user value that contradicts them is refused.
Status ForceProducerProperties(rd_kafka_conf_t* conf, const Properties& user) {
  const std::pair<const char*, const char*> forced[] = {{"enable.idempotence", "true"},
                                                        {"acks", "all"}};
  for (const auto& [name, value] : forced) {
    auto it = user.find(name);
    if (it != user.end() && it->second != value && !(it->first == "acks" && it->second == "-1")) {
      return Status(errc::invalid_argument,
                    fmt::format("librdkafka property {}={}: the producer needs {}={}", name,
                                it->second, name, value));
    }
    if (Status s = SetProperty(conf, name, value); !s.ok()) return s;
  }
  return {};
}

Result<rd_kafka_t*> NewHandle(rd_kafka_type_t type, ConfPtr conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (rk == nullptr) return Status(errc::invalid_argument, fmt::format("librdkafka: {}", err));
  (void)conf.release();  // owned by rk now
  return rk;
}

std::vector<Header> CopyHeaders(const rd_kafka_message_t* m) {
  std::vector<Header> out;
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char* name;
  const void* value;
  size_t size;
  for (size_t i = 0;
       rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    out.push_back({name, value ? std::string(static_cast<const char*>(value), size) : ""});
  }
  return out;
}

}  // namespace

const std::error_category& kafka_category() {
  static const KafkaCategory category;
  return category;
}

std::error_code MakeErrorCode(rd_kafka_resp_err_t err) {
  return {static_cast<int>(err), kafka_category()};
}

rd_kafka_resp_err_t KafkaError(std::error_code ec) {
  if (ec.category() != kafka_category()) return RD_KAFKA_RESP_ERR_UNKNOWN;
  return static_cast<rd_kafka_resp_err_t>(ec.value());
}

Status KafkaStatus(rd_kafka_resp_err_t err, std::string_view context) {
  return Status(MakeErrorCode(err),
                fmt::format("{}: {}: {}", context, rd_kafka_err2name(err), rd_kafka_err2str(err)));
}

Status CheckProperties(const Properties& properties) { return MakeConf(properties).status(); }

// Producer

Producer::Producer(rd_kafka_t* rk, std::unique_ptr<Handlers> handlers)
    : rk_(rk), handlers_(std::move(handlers)) {}

Result<std::unique_ptr<Producer>> Producer::Create(const Properties& properties,
                                                   DeliveryHandler on_delivery,
                                                   ErrorHandler on_error) {
  auto conf = MakeConf(properties);
  if (!conf.ok()) return conf.status();
  if (Status s = ForceProducerProperties(conf->get(), properties); !s.ok()) return s;
  auto handlers = std::make_unique<Handlers>(
      Handlers{.delivery = std::move(on_delivery), .error = std::move(on_error)});
  rd_kafka_conf_set_opaque(conf->get(), handlers.get());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Producer::OnDelivery);
  rd_kafka_conf_set_error_cb(conf->get(), &Producer::OnError);
  auto rk = NewHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk.ok()) return rk.status();
  return std::unique_ptr<Producer>(new Producer(*rk, std::move(handlers)));
}

Producer::~Producer() { rd_kafka_destroy(rk_); }

void Producer::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* handlers = static_cast<Handlers*>(opaque);
  if (handlers == nullptr || !handlers->delivery) return;
  DeliveryReport r;
  r.err = m->err;
  r.opaque = m->_private;
  r.topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
  r.partition = m->partition;
  r.offset = m->offset;
  if (m->key) r.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
  if (m->payload) r.value = std::string_view(static_cast<const char*>(m->payload), m->len);
  handlers->delivery(r);
}

// With an error_cb set librdkafka no longer logs these errors itself: logged here as before
// (warnings: mostly a broker being unreachable, which the producer rides out).
void Producer::OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  static auto log = log::Get("kafka");
  const auto e = static_cast<rd_kafka_resp_err_t>(err);
  log->warn("{} ERROR: {}: {}", rk != nullptr ? rd_kafka_name(rk) : "librdkafka",
            rd_kafka_err2name(e), reason != nullptr ? reason : "");
  auto* handlers = static_cast<Handlers*>(opaque);
  if (handlers != nullptr && handlers->error) handlers->error(e, reason != nullptr ? reason : "");
}

bool Producer::Reachable(int timeout_ms) {
  const struct rd_kafka_metadata* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, nullptr, &md, timeout_ms);
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

Status Producer::Produce(const OutRecord& record) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (record.headers != nullptr && !record.headers->empty()) {
    hdrs = rd_kafka_headers_new(record.headers->size());
    for (const Header& h : *record.headers) {
      rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()), h.value.data(),
                          static_cast<ssize_t>(h.value.size()));
    }
  } else if (record.headers == nullptr && !record.header_views.empty()) {
    hdrs = rd_kafka_headers_new(record.header_views.size());
    for (const HeaderView& h : record.header_views) {
      rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()), h.value.data(),
                          static_cast<ssize_t>(h.value.size()));
    }
  }
  // NUL-terminated for librdkafka, on the stack for a valid name (at most 249 characters).
  char topic_buf[256];
  std::string long_topic;
  const char* topic_c = topic_buf;
  if (record.topic.size() < sizeof topic_buf) {
    std::memcpy(topic_buf, record.topic.data(), record.topic.size());
    topic_buf[record.topic.size()] = '\0';
  } else {
    long_topic = std::string(record.topic);
    topic_c = long_topic.c_str();
  }
  const std::string_view topic = record.topic;
  // rd_kafka_produceva, not rd_kafka_producev: the RD_KAFKA_V_* macros of the variadic form are GNU
  // statement expressions, which clang's -Wpedantic refuses.
  rd_kafka_vu_t vu[7];
  std::memset(vu, 0, sizeof vu);
  vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vu[0].u.cstr = topic_c;
  vu[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vu[1].u.i = RD_KAFKA_MSG_F_COPY;
  vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vu[2].u.mem.ptr = const_cast<char*>(record.value.data());
  vu[2].u.mem.size = record.value.size();
  vu[3].vtype = RD_KAFKA_VTYPE_KEY;
  vu[3].u.mem.ptr = record.key ? const_cast<char*>(record.key->data()) : nullptr;
  vu[3].u.mem.size = record.key ? record.key->size() : 0;
  vu[4].vtype = RD_KAFKA_VTYPE_HEADERS;
  vu[4].u.headers = hdrs;
  vu[5].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
  vu[5].u.i64 = record.timestamp_ms;
  vu[6].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vu[6].u.ptr = record.opaque;
  rd_kafka_error_t* error = rd_kafka_produceva(rk_, vu, 7);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (error != nullptr) {
    err = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
  }
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);  // not taken on failure
  return KafkaStatus(err, fmt::format("produce to {}", topic));
}

int Producer::Poll(int timeout_ms) { return rd_kafka_poll(rk_, timeout_ms); }

Status Producer::Flush(int timeout_ms) {
  const rd_kafka_resp_err_t err = rd_kafka_flush(rk_, timeout_ms);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return KafkaStatus(err, "flush");
}

int Producer::InFlight() const { return rd_kafka_outq_len(rk_); }

std::optional<Status> Producer::FatalError() const {
  char err[512];
  const rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk_, err, sizeof err);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  return Status(MakeErrorCode(e),
                fmt::format("fatal producer error: {}: {}", rd_kafka_err2name(e), err));
}

// InRecord and Consumer

const std::string* InRecord::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (h.name == name) return &h.value;
  }
  return nullptr;
}

Result<std::unique_ptr<Consumer>> Consumer::Create(const Properties& properties) {
  if (!properties.contains("group.id")) {
    return Status(errc::invalid_argument, "librdkafka property group.id: required by a consumer");
  }
  Properties p = properties;
  p["enable.auto.commit"] = "false";
  p["enable.auto.offset.store"] = "false";
  auto conf = MakeConf(p);
  if (!conf.ok()) return conf.status();
  auto rk = NewHandle(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!rk.ok()) return rk.status();
  rd_kafka_poll_set_consumer(*rk);
  return std::unique_ptr<Consumer>(new Consumer(*rk));
}

Consumer::~Consumer() {
  Close();
  rd_kafka_destroy(rk_);
}

void Consumer::Close() {
  if (closed_) return;
  closed_ = true;
  rd_kafka_consumer_close(rk_);
}

Status Consumer::Subscribe(const std::vector<std::string>& topics) {
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
  for (const auto& t : topics) {
    rd_kafka_topic_partition_list_add(list, t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return KafkaStatus(err, "subscribe");
}

Result<std::optional<InRecord>> Consumer::Poll(int timeout_ms) {
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, timeout_ms);
  if (m == nullptr) return std::optional<InRecord>();
  std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> guard(
      m, rd_kafka_message_destroy);
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return std::optional<InRecord>();
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status(MakeErrorCode(m->err), fmt::format("consume: {}: {}", rd_kafka_err2name(m->err),
                                                     rd_kafka_message_errstr(m)));
  }
  InRecord r;
  r.topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
  r.partition = m->partition;
  r.offset = m->offset;
  if (m->key) r.key = std::string(static_cast<const char*>(m->key), m->key_len);
  if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
  r.headers = CopyHeaders(m);
  r.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
  return std::optional<InRecord>(std::move(r));
}

Status Consumer::Commit(const std::string& topic, int32_t partition, int64_t next_offset,
                        bool async) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = next_offset;
  const rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, async ? 1 : 0);
  rd_kafka_topic_partition_list_destroy(list);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return KafkaStatus(err, fmt::format("commit {}[{}]@{}", topic, partition, next_offset));
}

}  // namespace aiot::kafka
