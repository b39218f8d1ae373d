// TelemetryStore: its life (open, close), parsing messages into records and the pool of read
// connections. The schema, the writer and the queries are in
// telemetry_store_{schema,writer,query}.cc.
#include "store/telemetry_store.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/errc.h"
#include "store/telemetry_store_internal.h"

namespace aiot::store {

using internal::kAnomalyFields;

TelemetryStore::Metrics::Metrics(metrics::Registry& r) {
  auto& records = prometheus::BuildCounter()
                      .Name("aiot_store_records_total")
                      .Help("Records committed to the telemetry store, by kind")
                      .Register(r);
  telemetry = &records.Add({{"kind", "telemetry"}});
  anomalies = &records.Add({{"kind", "anomaly"}});
  statuses = &records.Add({{"kind", "status"}});
  events = &records.Add({{"kind", "event"}});
  auto& errors = prometheus::BuildCounter()
                     .Name("aiot_store_errors_total")
                     .Help("Telemetry store failures, by reason")
                     .Register(r);
  parse_errors = &errors.Add({{"reason", "parse"}});
  dropped = &errors.Add({{"reason", "queue_full"}});
  write_errors = &errors.Add({{"reason", "write"}});
  batches = &prometheus::BuildCounter()
                 .Name("aiot_store_batches_total")
                 .Help("Write transactions committed")
                 .Register(r)
                 .Add({});
  queue_depth = &prometheus::BuildGauge()
                     .Name("aiot_store_queue_depth")
                     .Help("Records waiting for the store writer")
                     .Register(r)
                     .Add({});
}

TelemetryStore::TelemetryStore(const StoreConfig& config, Clock& clock, metrics::Registry* registry)
    : config_(config), clock_(clock), schema_({}) {
  if (!registry) {
    own_registry_ = std::make_shared<metrics::Registry>();
    registry = own_registry_.get();
  }
  metrics_ = std::make_unique<Metrics>(*registry);
}

Result<std::unique_ptr<TelemetryStore>> TelemetryStore::Open(const StoreConfig& config,
                                                             Clock& clock,
                                                             metrics::Registry* registry) {
  std::unique_ptr<TelemetryStore> s(new TelemetryStore(config, clock, registry));
  if (Status st = s->Init(); !st) return st;
  s->thread_ = std::thread([p = s.get()] { p->WriterLoop(); });
  return s;
}

TelemetryStore::~TelemetryStore() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<Record> TelemetryStore::Parse(std::string_view topic, std::string_view payload,
                                     telemetry::Defect* defect) const {
  const int64_t now_ms = clock_.NowNanos() / 1000000;
  telemetry::Defect local;
  telemetry::Defect& d = defect ? *defect : local;
  Status st;
  if (topic == config_.telemetry_topic) {
    TelemetryPoint p;
    st = ParseTelemetry(payload, schema_, now_ms, &p, &d);
    if (st) return Record(std::move(p));
  } else if (topic == config_.anomaly_topic) {
    AnomalyPoint a;
    st = ParseAnomaly(payload, now_ms, &a);
    if (st) return Record(std::move(a));
  } else if (TopicMatches(config_.status_topic, topic)) {
    StatusUpdate s;
    std::string_view device = topic.substr(topic.rfind('/') + 1);
    st = ParseStatus(payload, device, now_ms, &s, &d);
    if (st) return Record(std::move(s));
  } else if (topic == config_.alerts_topic) {
    EventRecord e;
    st = ParseEvent(payload, "alert", now_ms, &e);
    if (st) return Record(std::move(e));
  } else if (TopicMatches(config_.events_topic, topic)) {
    EventRecord e;
    st = ParseEvent(payload, EventKind(topic), now_ms, &e);
    if (st) return Record(std::move(e));
  } else {
    return Status(errc::not_found, "not a topic the store reads");
  }
  metrics_->parse_errors->Increment();
  // Telemetry and status say why through the defect; the other parsers through their status.
  if (d.kind != telemetry::Defect::Kind::kNone) return Status(st.code(), d.Reason());
  return st;
}

std::string_view TelemetryStore::EventKind(std::string_view topic) const {
  // aiot/events/drift/... -> "drift": the first level under the filter's fixed prefix.
  std::string_view prefix = config_.events_topic;
  prefix = prefix.substr(0, prefix.find_first_of("+#"));
  std::string_view rest = topic.substr(std::min(prefix.size(), topic.size()));
  std::string_view kind = rest.substr(0, rest.find('/'));
  return kind.empty() ? std::string_view("event") : kind;
}

Status TelemetryStore::Ingest(std::string_view topic, std::string_view payload) {
  auto r = Parse(topic, payload);
  if (!r) return r.status();
  return Write(std::move(*r));
}

Result<std::unique_ptr<sqlite::Db>> TelemetryStore::AcquireReader() {
  {
    std::lock_guard lk(pool_mu_);
    if (!pool_.empty()) {
      auto db = std::move(pool_.back());
      pool_.pop_back();
      return db;
    }
  }
  auto db = sqlite::Db::Open(config_.path);
  if (!db) return Status(db.error(), fmt::format("open a reader of {}", config_.path));
  auto p = std::make_unique<sqlite::Db>(std::move(*db));
  if (Status st =
          p->Exec(fmt::format("PRAGMA query_only=1; PRAGMA cache_size=-{};", config_.cache_kib));
      !st) {
    return internal::SqlError(*p, st, "set up a reader");
  }
  return p;
}

void TelemetryStore::ReleaseReader(std::unique_ptr<sqlite::Db> db) {
  std::lock_guard lk(pool_mu_);
  if (pool_.size() < static_cast<size_t>(std::max(config_.reader_connections, 1))) {
    pool_.push_back(std::move(db));
  }
}

std::vector<std::string> TelemetryStore::FieldNames() const {
  std::vector<std::string> out = schema_.columns();
  for (const char* f : kAnomalyFields) out.emplace_back(f);
  std::lock_guard lk(fields_mu_);
  for (const auto& [name, v] : fields_) {
    if (v.second == "extra") out.push_back(name);
  }
  return out;
}

}  // namespace aiot::store
