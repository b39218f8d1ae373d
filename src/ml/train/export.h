#pragma once

#include <string>
#include <vector>

#include "ml/data/dataset.h"
#include "ml/data/derive.h"
#include "ml/runtime/tree_ensemble.h"
#include "ml/tflite/graph.h"
#include "ml/tflite/metadata.h"
#include "ml/train/metrics.h"
#include "ml/train/mlp.h"

namespace aiot::ml {

// The float .tflite graph of a trained MLP. Normalisation is inside the model (SUB mean, MUL
// 1/stddev), so it takes raw sensor values:
//   features[1,F] -SUB-> -MUL-> FULLY_CONNECTED(+RELU) ... FULLY_CONNECTED -> LOGISTIC|SOFTMAX
// `metadata` is stored as the "aiot_metadata" entry.
GraphSpec BuildFloatGraph(const Mlp& model, const ModelMetadata& metadata);

// The float .tflite graph of a tree ensemble. Trees split on raw values, so there is no
// normalisation: features[1,F] -AIOT_TREE_ENSEMBLE-> margin[1,1] -LOGISTIC-> score[1,1].
// `regression`: features[1,F] -AIOT_TREE_ENSEMBLE-> prediction[1,1] (the value itself).
// The operator's options are written binned (version 2, half the bytes) when the trees fit,
// else as version 1; kFloat writes version 1 always, for readers older than version 2.
GraphSpec BuildTreeGraph(const TreeEnsemble& trees, const ModelMetadata& metadata,
                         bool regression = false, TreeEncoding encoding = TreeEncoding::kBinned);

// `graph` (built for the raw columns followed by the derived ones, [1, raw_cols + D]) with the
// derived features computed inside it, so it takes the raw columns [1, raw_cols]:
//   features -SLICE-> one column each -ADD/SUB/MUL/DIV (scalar constants)-> derived/<name>
//   CONCATENATION(features, derived/...) -> derived/features -> the model as it was.
// Every operation is the one the trainer's EvaluateDerived does, in the same order (float32).
GraphSpec WithDerivedFeatures(GraphSpec graph, int raw_cols,
                              const std::vector<DerivedFeature>& derived);

// Metadata for a model trained on `train_rows` of `data`: feature names, normalisation, the
// drift reference profile of the training rows, test metrics and the data's sha256.
ModelMetadata MakeMetadata(const Dataset& data, const std::vector<size_t>& train_rows,
                           const Mlp& model, const EvalReport& test_report,
                           const std::string& name);
// The same for any model: `norm` is recorded per feature (trees do not use it; drift reports do).
ModelMetadata MakeMetadata(const Dataset& data, const std::vector<size_t>& train_rows,
                           const Normalization& norm, const EvalReport& test_report,
                           const std::string& name);

}  // namespace aiot::ml
