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
// Thresholds come from the metadata when the model carries aiot metadata.
Result<ModelPtr> LoadTfliteModel(const ModelSource& source, std::string* error = nullptr);

// A ModelLoader over LoadTfliteModel (for Predictor).
ModelLoader MakeTfliteLoader();

}  // namespace aiot::services
