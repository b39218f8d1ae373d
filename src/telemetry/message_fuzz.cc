// libFuzzer target: every parser of telemetry and status messages from devices (the one place
// the predictor, the store and the registry ingest read them). Any input is accepted or rejected
// with a reason; accepted ones satisfy the rules (a topic-safe device id, a time in range).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "telemetry/features.h"
#include "telemetry/message.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aiot::telemetry;
  static FeatureParser features(
      {}, {{.feature = "rotation", .field = "rotation"},
           {.feature = "temperature", .field = "temperature", .min = -100, .max = 500},
           {.feature = "peak", .field = "spectrum_peak"}});
  static ReadingParser readings({"rotation", "temperature", "vibration", "sound"});
  std::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr int64_t kArrival = 1'800'000'000'000'000'000;
  Defect defect;
  float row[3];
  if (features.Parse(input, kArrival, row, defect)) {
    Check(IsTopicSafeId(features.device_id()));
  } else {
    Check(defect.kind != Defect::Kind::kNone && !defect.Reason().empty());
  }
  Reading reading;
  const bool read = readings.Parse(input, kArrival, &reading, defect);
  if (read) {
    Check(IsTopicSafeId(reading.device));
    Check(reading.has_time || reading.time_ns == kArrival);
    Check(reading.fields.size() <= 256 + 4);
  } else {
    (void)defect.Reason();
    (void)defect.Label();
  }
  DeviceStatus status;
  if (!ParseDeviceStatus(input, "dev", kArrival, &status, defect)) (void)defect.Reason();
  int64_t ns;
  (void)ParseTime(input, &ns);
  return 0;
}
