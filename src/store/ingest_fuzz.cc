// libFuzzer target: the telemetry store's message parsers (everything that faces MQTT payloads).
// The first byte picks the parser; the rest is the payload.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/line_protocol.h"
#include "store/query.h"
#include "store/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aiot::store;
  static const FieldSchema schema({"rotation", "temperature", "vibration", "sound"});
  if (size == 0) return 0;
  const uint8_t which = data[0] % 5;
  std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string out;
  switch (which) {
    case 0: {
      TelemetryPoint p;
      if (ParseTelemetry(payload, schema, 0, &p)) {
        AppendTelemetryLine(out, "fan", schema, p, 1, 1);
        AppendTelemetryLine(out, "fan", schema, p, 1, 1, payload);
        AppendJsonString(out, p.device);
      }
      break;
    }
    case 1: {
      AnomalyPoint a;
      if (ParseAnomaly(payload, 0, &a)) {
        AppendAnomalyLine(out, "fan_anomaly", a, 1000000, 1);
        AppendTelegrafAnomalyLine(out, "fan", a, 1, 1, payload);  // the payload as a hostile topic
        // Two lines, however hostile the device name or topic: no line injection.
        if (std::count(out.begin(), out.end(), '\n') != 2) __builtin_trap();
      }
      break;
    }
    case 2: {
      StatusUpdate s;
      (void)ParseStatus(payload, "dev", 0, &s);
      break;
    }
    case 3: {
      EventRecord e;
      (void)ParseEvent(payload, "alert", 0, &e);
      break;
    }
    case 4: {
      // Query parameters as the HTTP API receives them: key=value&key=value.
      std::map<std::string, std::string> params;
      size_t pos = 0;
      while (pos <= payload.size()) {
        size_t amp = payload.find('&', pos);
        if (amp == std::string_view::npos) amp = payload.size();
        std::string_view kv = payload.substr(pos, amp - pos);
        size_t eq = kv.find('=');
        params[std::string(kv.substr(0, eq))] =
            eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
        pos = amp + 1;
      }
      (void)ParseSeriesQuery(params, 1'800'000'000'000);
      break;
    }
  }
  return 0;
}
