#pragma once
// The reference 4-60-30-10-1 model shape with random weights, and random fan-like rows, shared by
// the inference benchmarks.
#include <memory>
#include <vector>

#include "ml/data/random.h"
#include "ml/quant/quantize.h"
#include "ml/runtime/model.h"
#include "ml/train/export.h"

namespace aiot::ml {

// Random weights of the right shape; speed does not depend on the values.
inline Mlp ReferenceShape() {
  Rng rng(1);
  Mlp m;
  m.norm.mean = {600, 42, 160, 50};
  m.norm.stddev = {60, 4, 30, 3};
  const int sizes[] = {4, 60, 30, 10, 1};
  for (int l = 0; l < 4; ++l) {
    DenseLayer d;
    d.inputs = sizes[l];
    d.outputs = sizes[l + 1];
    d.relu = l < 3;
    for (int i = 0; i < d.inputs * d.outputs; ++i)
      d.weights.push_back(static_cast<float>(rng.Uniform(-0.5, 0.5)));
    for (int i = 0; i < d.outputs; ++i)
      d.bias.push_back(static_cast<float>(rng.Uniform(-0.1, 0.1)));
    m.layers.push_back(d);
  }
  return m;
}

inline std::vector<float> Rows(size_t n) {
  Rng rng(2);
  std::vector<float> x;
  for (size_t i = 0; i < n; ++i) {
    x.push_back(static_cast<float>(rng.Uniform(400, 700)));
    x.push_back(static_cast<float>(rng.Uniform(35, 55)));
    x.push_back(static_cast<float>(rng.Uniform(100, 250)));
    x.push_back(static_cast<float>(rng.Uniform(45, 60)));
  }
  return x;
}

inline std::shared_ptr<const Model> Build(bool int8) {
  GraphSpec g = BuildFloatGraph(ReferenceShape(), ModelMetadata{});
  if (int8) {
    auto calib = Rows(2000);
    g = *QuantizeGraph(g, calib.data(), 2000);
  }
  return *Model::FromBytes(*WriteTflite(g));
}

}  // namespace aiot::ml
