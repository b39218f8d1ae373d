#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "ml/data/dataset.h"
#include "ml/quant/quantize.h"
#include "ml/tflite/metadata.h"
#include "ml/train/metrics.h"
#include "ml/train/mlp.h"

namespace aiot::ml {

// Train -> evaluate -> export float -> (optionally) quantize int8 -> evaluate int8, in one call.
// `aiot train` and the MLOps pipeline both use it.
struct TrainJob {
  TrainConfig train;
  bool int8 = false;
  QuantizeOptions quantize;
  size_t calibration_rows = 2000;  // training rows used for int8 calibration (0 = all)
  std::string name = "model";
};

struct TrainOutput {
  TrainResult result;
  EvalReport test;            // float model on the test split
  EvalReport test_int8;       // int8 model on the test split (when int8)
  double int8_agreement = 0;  // fraction of test decisions equal between float and int8
  double int8_max_score_diff = 0;
  ModelMetadata metadata;
  std::vector<uint8_t> float_model;  // .tflite bytes
  std::vector<uint8_t> int8_model;   // .tflite bytes (when int8)

  // {"model":..,"train":{..},"test":{..},"int8":{..}} — no trailing newline.
  std::string ToJson() const;
};

// Errors are those of the step that failed (Train, WriteTflite, the runtime, QuantizeGraph).
Result<TrainOutput> TrainAndExport(const Dataset& data, const TrainJob& job,
                                   const ProgressFn& progress = {});

// Runs a .tflite model (bytes) over every row of `data` and returns num_outputs values per row.
Result<std::vector<float>> ScoreRows(const std::vector<uint8_t>& model, const Dataset& data);

// Quantizes a float aiot model (bytes) with calibration rows, marking its metadata "int8".
Result<std::vector<uint8_t>> QuantizeModel(const std::vector<uint8_t>& float_model,
                                           const Dataset& calibration,
                                           const QuantizeOptions& options);

}  // namespace aiot::ml
