// Inference of the reference 4-60-30-10-1 model: single-sample latency and batch throughput,
// float and int8, optimized kernels (AVX2 when available) and the plain reference kernels.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>

#include "ml/data/random.h"
#include "ml/quant/quantize.h"
#include "ml/runtime/kernels.h"
#include "ml/runtime/model.h"
#include "ml/train/export.h"

namespace aiot::ml {
namespace {

// Random weights of the right shape; speed does not depend on the values.
Mlp ReferenceShape() {
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

std::vector<float> Rows(size_t n) {
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

std::shared_ptr<const Model> Build(bool int8) {
  GraphSpec g = BuildFloatGraph(ReferenceShape(), ModelMetadata{});
  if (int8) {
    auto calib = Rows(2000);
    g = *QuantizeGraph(g, calib.data(), 2000);
  }
  return *Model::FromBytes(*WriteTflite(g));
}

void BM_Single(benchmark::State& state) {
  const bool int8 = state.range(0) != 0;
  const bool reference = state.range(1) != 0;
  auto scorer = Scorer::Create(Build(int8), ScorerOptions{1, reference}).value();
  auto x = Rows(1024);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(scorer->Score(x.data() + 4 * (i++ & 1023)));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::string(int8 ? "int8" : "float") + (reference ? " reference" : " optimized") +
                 (!reference ? std::string(" ") + kernels::IsaName(kernels::BestIsa()) : ""));
}
BENCHMARK(BM_Single)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"int8", "reference"});

void BM_Batch(benchmark::State& state) {
  const bool int8 = state.range(0) != 0;
  const int batch = static_cast<int>(state.range(1));
  auto scorer = Scorer::Create(Build(int8), ScorerOptions{batch, false}).value();
  auto x = Rows(static_cast<size_t>(batch));
  std::vector<float> out(static_cast<size_t>(batch));
  for (auto _ : state) {
    scorer->ScoreBatch(x.data(), static_cast<size_t>(batch), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
  state.SetLabel(int8 ? "int8" : "float");
}
BENCHMARK(BM_Batch)->ArgsProduct({{0, 1}, {64, 1024}})->ArgNames({"int8", "batch"});

// The int8 model on each instruction set of the int8 kernel (0 portable, 1 AVX2, 2 AVX-VNNI; a
// set the CPU lacks falls back to the best one below it, shown in the label). batch 1 = Score.
void BM_Int8Isa(benchmark::State& state) {
  const auto isa = static_cast<kernels::Isa>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  auto scorer = Scorer::Create(Build(true), ScorerOptions{batch, false, isa}).value();
  auto x = Rows(1024);
  std::vector<float> out(1024);
  size_t i = 0;
  for (auto _ : state) {
    if (batch == 1) {
      benchmark::DoNotOptimize(scorer->Score(x.data() + 4 * (i++ & 1023)));
    } else {
      scorer->ScoreBatch(x.data(), static_cast<size_t>(batch), out.data());
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
  state.SetLabel(kernels::IsaName(std::min(isa, kernels::BestIsa())));
}
BENCHMARK(BM_Int8Isa)->ArgsProduct({{0, 1, 2}, {1, 1024}})->ArgNames({"isa", "batch"});

}  // namespace
}  // namespace aiot::ml
