#pragma once

#include <memory>
#include <string>

#include "services/model.h"
#include "services/predictor.h"

namespace aiot::ml {
class Model;
}

namespace aiot::services {

// A .tflite model run by src/ml's int8/float runtime, as a ScoringModel. Scoring is thread-safe:
// each call borrows an ml::Scorer (one interpreter arena) from a small pool, so the predictor's
// strand and the HTTP threads score concurrently without sharing an arena.
// The reported name is, in order: the name asked for, the metadata's name, the file's stem.
// Thresholds come from the metadata when the model carries aiot metadata. Errors carry the reason
// (src/ml's message for files it cannot read or run, "sha256 mismatch: ...", ...).
Result<ModelPtr> LoadTfliteModel(const ModelSource& source);

// A ModelLoader over LoadTfliteModel (for Predictor).
ModelLoader MakeTfliteLoader();

// Online drift monitoring for models loaded by LoadTfliteModel whose metadata carries a reference
// profile: a sliding window of `config.window` scored feature vectors is compared with it (PSI and
// KS, src/ml's DriftMonitor). A drift event is published when drift starts and when it ends:
//   {"event":"drift","drift":true|false,"model":"fan-mlp@3","report":{...DriftReport...}}
// Models without a profile get no monitor.
DriftWatchFactory MakeTfliteDriftWatch(const DriftConfig& config);

}  // namespace aiot::services
