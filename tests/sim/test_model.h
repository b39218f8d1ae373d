#pragma once

// A real .tflite model for the Things-tier tests (links aiot_ml).
#include <gtest/gtest.h>

#include <string>

#include "ml/tflite/graph.h"
#include "ml/train/export.h"

namespace aiot::sim::testing {

// A real .tflite model: logistic regression on the four reference features (slow, hot, shaking,
// loud = faulty), normalisation inside the graph. `feature0` renames the first feature.
inline std::string MakeModel(const std::string& name, float bias,
                             const std::string& feature0 = "rotation") {
  ml::Mlp mlp;
  ml::DenseLayer out;
  out.inputs = 4;
  out.outputs = 1;
  out.weights = {-2.0f, 1.0f, 1.0f, 1.0f};
  out.bias = {bias};
  mlp.layers.push_back(out);
  mlp.norm.mean = {600, 40, 150, 48};
  mlp.norm.stddev = {50, 3, 30, 2};
  ml::ModelMetadata meta;
  meta.name = name;
  for (const char* f : {"rotation", "temperature", "vibration", "sound"}) {
    ml::FeatureInfo fi;
    fi.name = f;
    meta.features.push_back(fi);
  }
  meta.features[0].name = feature0;
  auto bytes = ml::WriteTflite(ml::BuildFloatGraph(mlp, meta));
  EXPECT_TRUE(bytes.ok());
  return std::string(bytes->begin(), bytes->end());
}

}  // namespace aiot::sim::testing
