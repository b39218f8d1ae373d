#pragma once

#include <memory>
#include <string>

#include "base/clock.h"
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
// profile: a sliding window of `config.window` scored feature vectors is compared with a
// reference (PSI and KS per feature, src/ml's DriftMonitor). The reference is, by
// `config.reference`, the first `reference_window` readings the model scores ("live": the
// fleet's own operating data when the model goes into service) or the model's profile of its
// healthy training rows ("model"). An event is published when drift starts and when it ends:
//   {"event":"drift","drift":true,"level":"warning","model":"fan-mlp@3",
//    "message":"drift in temperature (PSI 0.41 >= 0.25, KS D 0.3 >= 0.2 and p 1e-12 < 0.00025;
//    ...) over ...", "reference":{"kind":"live","rows":1000,"since":..},"window":{"samples":1000,
//    "from":..,"to":..},"thresholds":{"psi":0.25,"ks_alpha":0.001,"ks_alpha_per_feature":0.00025,
//    "ks_min_statistic":0.25},"features_drifted":[{"name","psi","psi_threshold","ks_statistic",
//    "ks_p_value","ks_alpha","ks_min_statistic","window_mean","reference_mean"}],
//    "report":{...DriftReport...}}
// A feature drifts on PSI >= the threshold, or on KS p < alpha / features with D >= the minimum
// (an effect size: at these sample sizes p alone flags meaningless gaps). Checks start once the
// window is full.
// Models without a profile get no monitor. `clock` times the window.
DriftWatchFactory MakeTfliteDriftWatch(const DriftConfig& config,
                                       const Clock& clock = SystemClock::Instance());

}  // namespace aiot::services
