// Fuzzes the predictor's network-facing parsers: telemetry payloads (through the predictor's
// mapping, into its output payloads; the message rules themselves are fuzzed by
// telemetry_message_fuzz) and score requests.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "services/messages.h"
#include "services/score_request.h"
#include "services/telemetry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aiot::services;
  static TelemetryConfig config;
  static TelemetryParser parser(config.Message(), *ResolveFeatures(config, {}));
  static ScoreRequestParser score_parser;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  float row[4];
  Defect defect;
  std::string out;
  if (parser.Parse(input, 0, row, defect)) {
    AppendAnomaly(out, parser.device_id(), parser.timestamp(), 1, row[0], Level::kOk, "m");
  } else {
    AppendDeadLetter(out, "fan/messages", defect.Reason(), input, 512);
  }
  if (score_parser.Parse(input, 4)) {
    out.clear();
    for (float x : score_parser.rows()) AppendScoreResult(out, x, Thresholds{}, "m");
  }
  return 0;
}
