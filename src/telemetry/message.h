#pragma once

// The rules for telemetry and status messages from devices, in one place: what a device id is,
// what a time is, which payloads are rejected and why. The predictor, the store and the registry
// ingest all parse through MessageReader, so a message accepted by one is accepted by all.

#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace aiot::telemetry {

// Where the reader finds a message's device id and time.
struct MessageConfig {
  // Fields naming the device, in order of preference: the first one present wins. The reference
  // fan sends `deviceID`; the motor sensor sends `deviceID` or `chipID`.
  std::vector<std::string> device_id_fields = {"deviceID", "chipID"};
  // Field with the reading's time. Optional: a message without one happened when it arrived.
  std::string timestamp_field = "timeStamp";
  // Payloads larger than this are rejected unparsed.
  uint32_t max_payload_bytes = 16384;
};

// Why a payload was rejected. `field` points into the reader (or its caller's schema) and is
// valid until the next message.
struct Defect {
  enum class Kind : uint8_t {
    kNone,
    kOversized,
    kNotJson,
    kNotObject,
    kMissingField,
    kDuplicateField,
    kMistyped,
    kNotFinite,
    kOutOfRange,
    kBadDeviceId,
    kBadTime,
    kTooDeep,
  };
  Kind kind = Kind::kNone;
  std::string_view field;
  double value = 0;         // kOutOfRange: the value; kOversized: the size
  double min = 0, max = 0;  // kOutOfRange: the range; kOversized: max = the limit
  const char* detail = "";  // kNotJson / kMistyped / kBadDeviceId / kBadTime: what was wrong

  // A short human-readable reason: "missing field `sound`". Allocates: rejection path only.
  std::string Reason() const;
  // A stable label for metrics: "missing_field", "not_json", ...
  std::string_view Label() const;

  // Fills in a kMistyped defect for `field` whose JSON value has type `type`; returns false (so a
  // field callback can `return defect.Mistyped(...)`).
  bool Mistyped(std::string_view field, simdjson::ondemand::json_type type);
};

// One JSON leaf of a message, other than the device id and the time. Nested objects are flattened
// with '_' as Telegraf's JSON parser does ({"spectrum":{"peak":1}} -> key "spectrum_peak"), to a
// depth of kMaxDepth. Arrays are validated and reported whole (no elements).
struct Leaf {
  std::string_view key;
  simdjson::ondemand::json_type type = simdjson::ondemand::json_type::null;
  double number = 0;           // type number: finite (non-finite numbers reject the message)
  bool boolean = false;        // type boolean
  std::string_view text = {};  // type string: unescaped
};
inline constexpr int kMaxDepth = 4;

// A non-owning reference to a callable, so the hot path passes callbacks without allocating.
template <class Sig>
class FunctionRef;
template <class R, class... A>
class FunctionRef<R(A...)> {
 public:
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef>)
      FunctionRef(F&& f)  // NOLINT: implicit by design
      : obj_(const_cast<void*>(static_cast<const void*>(&f))), call_([](void* o, A... a) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...);
        }) {}
  R operator()(A... a) const { return call_(obj_, std::forward<A>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, A...);
};

// Called for every leaf; returns false to reject the message (after filling the defect).
using LeafFn = FunctionRef<bool(const Leaf&, Defect&)>;

// Parses one message at a time with simdjson On-Demand. After warm-up it allocates nothing per
// message: the padded copy, simdjson's buffers and the id/key strings keep their capacity.
// Not thread-safe: one reader per thread or strand.
//
// The rules (README.md): the payload is one JSON object of at most max_payload_bytes; the device
// id is a string or an integer, 1-128 bytes without '/', '+', '#' or control characters (it is
// an MQTT topic level downstream); the time is an RFC 3339 string, "YYYY-MM-DD HH:MM:SS[.fff]"
// without a zone (= UTC), or a number of milliseconds since the epoch; a missing or null time is
// the arrival time. Numbers must be finite. Duplicate id or time fields are rejected.
class MessageReader {
 public:
  explicit MessageReader(MessageConfig config = {});

  // Reads `payload`, calling `on_leaf` for every other field. `arrival_ns` is the time of a
  // message that carries none. `topic_device` (e.g. the <id> of fan/status/<id>) names the device
  // when the message has no id field; empty: the message must name it.
  bool Read(std::string_view payload, int64_t arrival_ns, LeafFn on_leaf, Defect& defect,
            std::string_view topic_device = {});

  // Valid after a successful Read until the next one.
  std::string_view device_id() const { return device_id_; }
  int64_t time_ns() const { return time_ns_; }
  // True when the message carried its time (false: time_ns() is the arrival time).
  bool has_time() const { return has_time_; }
  // The time as sent when it was a string, else RFC 3339 of time_ns(); "" when the message had
  // none.
  std::string_view time_text() const { return time_text_; }

  const MessageConfig& config() const { return config_; }

 private:
  bool ReadDocument(std::string_view payload, LeafFn on_leaf, Defect& defect,
                    std::string_view topic_device);
  // A device id field of rank `rank` in config_.device_id_fields (`*ids_seen`: a bit per rank
  // already read; the id of the lowest rank wins, `*id_rank` is its rank).
  bool ReadDeviceId(simdjson::ondemand::value value, size_t rank, uint32_t* ids_seen,
                    size_t* id_rank, Defect& defect);
  // The timestamp field: a time string, milliseconds since the epoch, or null (no time).
  bool ReadTime(simdjson::ondemand::value value, Defect& defect);
  // After the object: the id from the topic when the message had none.
  bool ResolveDeviceId(std::string_view topic_device, Defect& defect);
  bool ReadValue(simdjson::ondemand::value value, std::string_view key, int depth, LeafFn on_leaf,
                 Defect& defect);
  // A nested object: its leaves, flattened to `key_<sub>`.
  bool ReadObject(simdjson::ondemand::value value, std::string_view key, int depth, LeafFn on_leaf,
                  Defect& defect);
  bool Fail(Defect& defect, Defect::Kind kind, std::string_view field, const char* detail = "");
  bool NotJson(Defect& defect, simdjson::error_code e) {
    return Fail(defect, Defect::Kind::kNotJson, {}, simdjson::error_message(e));
  }
  bool KeepField(Defect& defect, std::string_view key, int depth);

  MessageConfig config_;
  simdjson::ondemand::parser parser_;
  std::string padded_;
  std::string device_id_;
  std::string time_text_;
  std::string key_;           // the flattened key of a nested leaf
  std::string defect_field_;  // a defect's field when it is a flattened key
  int64_t time_ns_ = 0;
  bool has_time_ = false;
};

// Parses a message time: RFC 3339 with a zone or offset, or the same without one (UTC), 'T' or
// ' ' between date and time, optional fraction. False when malformed or outside int64 nanoseconds.
bool ParseTime(std::string_view text, int64_t* unix_nanos);

// True when `id` can be used as one MQTT topic level (`fan/control/<id>`): 1..128 bytes, no
// '/', '+', '#', NUL or control characters.
bool IsTopicSafeId(std::string_view id);

// True when `doc` (whose first byte says `type`) is one complete, valid JSON value.
bool IsValidNonObject(simdjson::ondemand::document& doc, simdjson::ondemand::json_type type);

// ---- Readings with every numeric field (the store, the training datastore) ----

// A reading: the device, its time, and its numeric fields in message order (flattened keys).
struct Reading {
  std::string device;
  int64_t time_ns = 0;
  bool has_time = false;  // false: time_ns is the arrival time
  std::vector<std::pair<std::string, double>> fields;
  // Parallel to `fields`: the index of each in the parser's numeric_fields, -1 for other leaves,
  // so a caller need not look the names up again.
  std::vector<int> numeric_index;
};

// Reads readings whose `numeric_fields` (e.g. the store's columns) must be numbers when present
// (null = absent; a string there is rejected as mistyped, a second one as a duplicate). Other
// numeric leaves are kept too, up to max_fields; strings, booleans and arrays elsewhere are
// skipped (the motor sensor's "fft_data":"true"). Not thread-safe.
class ReadingParser {
 public:
  explicit ReadingParser(std::vector<std::string> numeric_fields, MessageConfig config = {},
                         size_t max_fields = 256);
  bool Parse(std::string_view payload, int64_t arrival_ns, Reading* out, Defect& defect);
  const std::vector<std::string>& numeric_fields() const { return numeric_fields_; }

 private:
  MessageReader reader_;
  std::vector<std::string> numeric_fields_;
  size_t max_fields_;
};

// ---- Device status (`fan/status/<deviceID>`, retained, with a will) ----

// {"online":true,"model":"fan-mlp@3","actuator":...,
//  "ota":{"rollout":"r-1","state":"ok"|"failed"|"downloading","version":3,"error":"..."}}
// Every field is optional; unknown fields are ignored; "model": null is a device running none.
struct DeviceStatus {
  std::string device;  // the topic's id, else the message's id field
  int64_t time_ns = 0;
  bool has_time = false;
  bool has_online = false;
  bool online = false;
  std::string model;  // "name@version", "" when not reported
  std::string ota_rollout;
  std::string ota_state;
  std::string ota_error;
  int64_t ota_version = 0;
};

// Parses a status payload. `topic_device` is the <id> of the topic (may be empty when the
// payload names the device). A known field of the wrong type rejects it. Thread-safe (one reader
// per thread).
bool ParseDeviceStatus(std::string_view payload, std::string_view topic_device, int64_t arrival_ns,
                       DeviceStatus* out, Defect& defect);

}  // namespace aiot::telemetry
