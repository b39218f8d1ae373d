// Inference of the reference 4-60-30-10-1 model: single-sample latency and batch throughput,
// float and int8, optimized kernels (AVX2 when available) and the plain reference kernels.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>

#include "bench/ml/reference_model.h"
#include "ml/runtime/kernels.h"
#include "ml/runtime/model.h"

namespace aiot::ml {
namespace {

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
  state.SetLabel(kernels::IsaName(kernels::BestIsa(isa)));
}
BENCHMARK(BM_Int8Isa)->ArgsProduct({{0, 1, 2, 3}, {1, 1024}})->ArgNames({"isa", "batch"});

}  // namespace
}  // namespace aiot::ml
