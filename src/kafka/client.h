#pragma once

// C++ wrappers over librdkafka's C API: RAII handles, errors as Status with librdkafka's error
// names (kafka_category()), configuration passed through by librdkafka property name.
#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/result.h"

namespace aiot::kafka {

// rd_kafka_resp_err_t as a std::error_code; message() is librdkafka's name ("_TRANSPORT",
// "MSG_SIZE_TOO_LARGE"), as rd_kafka_err2name gives it.
const std::error_category& kafka_category();
std::error_code MakeErrorCode(rd_kafka_resp_err_t err);
// The librdkafka error of a code in kafka_category (RD_KAFKA_RESP_ERR_UNKNOWN otherwise).
rd_kafka_resp_err_t KafkaError(std::error_code ec);
// "<context>: <NAME>: <librdkafka's description>".
Status KafkaStatus(rd_kafka_resp_err_t err, std::string_view context);

// librdkafka properties by name, e.g. {"bootstrap.servers", "127.0.0.1:9092"}.
using Properties = std::map<std::string, std::string>;

// Checks every property against librdkafka (unknown name, bad value): the first problem as a
// Status whose message names the property and says what librdkafka said.
Status CheckProperties(const Properties& properties);

// A header of a Kafka record.
struct Header {
  std::string name;
  std::string value;
  bool operator==(const Header&) const = default;
};

// A header by reference (the bytes belong to someone else).
struct HeaderView {
  std::string_view name;
  std::string_view value;
};

// A record to produce. `opaque` comes back in the delivery report.
struct OutRecord {
  std::string_view topic;
  std::optional<std::string_view> key;  // nullopt = no key (null)
  std::string_view value;
  const std::vector<Header>* headers = nullptr;
  std::span<const HeaderView> header_views;  // used when `headers` is null
  int64_t timestamp_ms = 0;                  // 0 = now
  void* opaque = nullptr;
};

// A delivery report: err == RD_KAFKA_RESP_ERR_NO_ERROR when the cluster acknowledged the record
// (acks=all). The record's bytes are valid only during the callback.
struct DeliveryReport {
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  void* opaque = nullptr;
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::optional<std::string_view> key;
  std::string_view value;
};
using DeliveryHandler = std::function<void(const DeliveryReport&)>;
// A client-level error or event librdkafka reports (error_cb), e.g. _ALL_BROKERS_DOWN when no
// broker of bootstrap.servers answers, _TRANSPORT. Also logged as a warning by the client.
using ErrorHandler = std::function<void(rd_kafka_resp_err_t err, std::string_view reason)>;

// An idempotent producer (enable.idempotence=true, acks=all; a property that contradicts them is
// refused). Delivery reports are served by Poll()/Flush() on the calling thread.
class Producer {
 public:
  // `on_error` (optional) is served by Poll()/Flush() too.
  static Result<std::unique_ptr<Producer>> Create(const Properties& properties,
                                                  DeliveryHandler on_delivery,
                                                  ErrorHandler on_error = {});
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues one record. Errors: _QUEUE_FULL (poll and retry), _UNKNOWN_TOPIC, MSG_SIZE_TOO_LARGE,
  // _FATAL (the idempotent producer hit a fatal error: recreate it).
  Status Produce(const OutRecord& record);
  // Serves delivery reports and events for up to `timeout_ms`; returns how many were served.
  int Poll(int timeout_ms);
  // Waits until every queued record is delivered or failed, or the timeout.
  Status Flush(int timeout_ms);
  // Records queued or in flight in librdkafka.
  int InFlight() const;
  // The fatal error of an idempotent producer, if one happened ("" otherwise).
  std::optional<Status> FatalError() const;
  // Asks the cluster for its broker list (a metadata request) within `timeout_ms`: true when a
  // broker answered. Blocks the calling thread up to the timeout.
  bool Reachable(int timeout_ms);
  rd_kafka_t* handle() const { return rk_; }

 private:
  struct Handlers {
    DeliveryHandler delivery;
    ErrorHandler error;
  };
  Producer(rd_kafka_t* rk, std::unique_ptr<Handlers> handlers);
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);

  rd_kafka_t* rk_;
  std::unique_ptr<Handlers> handlers_;
};

// A consumed record (copied out of librdkafka's message).
struct InRecord {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::optional<std::string> key;
  std::string value;
  std::vector<Header> headers;
  int64_t timestamp_ms = -1;
  // The value of the first header named `name`.
  const std::string* header(std::string_view name) const;
};

// A consumer-group member with manual commits (enable.auto.commit=false,
// enable.auto.offset.store=false): the caller commits what it has finished with.
class Consumer {
 public:
  // `properties` must include group.id.
  static Result<std::unique_ptr<Consumer>> Create(const Properties& properties);
  ~Consumer();  // closes (leaves the group) and destroys
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  Status Subscribe(const std::vector<std::string>& topics);
  // The next record, nullopt after `timeout_ms` without one; a consumer error as a Status
  // (partition EOF is not an error and is skipped).
  Result<std::optional<InRecord>> Poll(int timeout_ms);
  // Commits `next_offset` (the offset of the next record to read) for the partition.
  Status Commit(const std::string& topic, int32_t partition, int64_t next_offset, bool async);
  // Leaves the group (idempotent).
  void Close();
  rd_kafka_t* handle() const { return rk_; }

 private:
  explicit Consumer(rd_kafka_t* rk) : rk_(rk) {}
  rd_kafka_t* rk_;
  bool closed_ = false;
};

}  // namespace aiot::kafka
