// Tree-ensemble inference (the AIOT_TREE_ENSEMBLE operator + LOGISTIC): single-sample latency and
// batch throughput, reference and optimised kernels (float and binned thresholds), and the
// operator's size in both encodings. The model is $AIOT_TREE_MODEL (a .tflite from
// `aiot train --model gbdt`), else a synthetic ensemble of 300 full trees of depth 6 on 4 features
// ($AIOT_TREE_TREES, $AIOT_TREE_DEPTH change that).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "ml/data/random.h"
#include "ml/runtime/model.h"
#include "ml/train/export.h"

namespace aiot::ml {
namespace {

std::shared_ptr<const Model> TreeModel() {
  if (const char* path = std::getenv("AIOT_TREE_MODEL")) return Model::FromFile(path).value();
  // $AIOT_TREE_TREES / $AIOT_TREE_DEPTH size the synthetic ensemble (the kernel-choice sweep).
  auto env = [](const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v ? std::atoi(v) : fallback;
  };
  const int trees = env("AIOT_TREE_TREES", 300), depth = env("AIOT_TREE_DEPTH", 6);
  Rng rng(1);
  TreeEnsemble e;
  e.num_features = 4;
  for (int t = 0; t < trees; ++t) {
    e.tree_offsets.push_back(static_cast<uint32_t>(e.nodes.size()));
    const int splits = (1 << depth) - 1;
    for (int i = 0; i < splits; ++i) {
      e.nodes.push_back({static_cast<int32_t>(rng.Below(4)), static_cast<float>(rng.Uniform()),
                         2 * i + 1, 2 * i + 2, rng.Below(2) == 1});
    }
    for (int i = 0; i <= splits; ++i) {
      e.nodes.push_back({-1, static_cast<float>(rng.Uniform(-0.1, 0.1)), 0, 0, false});
    }
  }
  return Model::FromBytes(WriteTflite(BuildTreeGraph(e, ModelMetadata{})).value()).value();
}

// Rows like the model's training data when it carries aiot metadata (each feature drawn from its
// recorded percentiles, so the walks take realistic, unpredictable paths), else uniform in [0, 1).
std::vector<float> Rows(const Model& model, size_t n, int features) {
  Rng rng(2);
  const auto& md = model.metadata().features;
  std::vector<float> x(n * static_cast<size_t>(features));
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t j = i % static_cast<size_t>(features);
    x[i] = j < md.size() && !md[j].quantiles.empty()
               ? md[j].quantiles[rng.Below(md[j].quantiles.size())]
               : static_cast<float>(rng.Uniform());
  }
  return x;
}

// Kernel 0 = reference, 1 = optimised on float thresholds (16-byte nodes), 2 = optimised on binned
// thresholds (8-byte nodes, 16-bit compares; the default optimised kernel when the trees fit).
// Kernel 3 = the one the interpreter picks by itself (kernels::PreferBinned).
ScorerOptions Options(int kernel, int batch) {
  return {.max_batch = batch,
          .reference_kernels = kernel == 0,
          .tree_kernel = kernel == 1   ? TreeKernel::kFloat
                         : kernel == 2 ? TreeKernel::kBinned
                                       : TreeKernel::kAuto};
}
const char* KernelName(int kernel) {
  return kernel == 0 ? "reference" : kernel == 1 ? "float" : kernel == 2 ? "binned" : "auto";
}

void BM_TreeSingle(benchmark::State& state) {
  const int kernel = static_cast<int>(state.range(0));
  auto scorer = Scorer::Create(TreeModel(), Options(kernel, 1)).value();
  const int f = scorer->num_features();
  auto x = Rows(scorer->model(), 1024, f);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(scorer->Score(x.data() + f * (i++ & 1023)));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(KernelName(kernel));
}
BENCHMARK(BM_TreeSingle)->Arg(0)->Arg(1)->Arg(2)->Arg(3)->ArgName("kernel");

void BM_TreeBatch(benchmark::State& state) {
  const int kernel = static_cast<int>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  auto scorer = Scorer::Create(TreeModel(), Options(kernel, batch)).value();
  auto x = Rows(scorer->model(), static_cast<size_t>(batch), scorer->num_features());
  std::vector<float> out(static_cast<size_t>(batch));
  for (auto _ : state) {
    scorer->ScoreBatch(x.data(), static_cast<size_t>(batch), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
  state.SetLabel(KernelName(kernel));
}
BENCHMARK(BM_TreeBatch)->ArgsProduct({{0, 1, 2}, {64, 1024}})->ArgNames({"kernel", "batch"});

// The operator's options as stored (version 1: float thresholds; version 2: binned), printed
// once: the model-size side of the comparison.
void BM_TreeOptionsBytes(benchmark::State& state) {
  auto model = TreeModel();
  const auto& op = model->graph().ops[0];
  auto e = DecodeTreeEnsemble(op.custom_options.data(), op.custom_options.size()).value();
  const size_t v1 = EncodeTreeEnsemble(e, TreeEncoding::kFloat).size();
  const size_t v2 = EncodeTreeEnsemble(e, TreeEncoding::kBinned).size();
  for (auto _ : state) benchmark::DoNotOptimize(v1 + v2);
  state.counters["nodes"] = static_cast<double>(e.nodes.size());
  state.counters["v1_bytes"] = static_cast<double>(v1);
  state.counters["v2_bytes"] = static_cast<double>(v2);
  state.counters["file_bytes"] = static_cast<double>(model->bytes().size());
}
BENCHMARK(BM_TreeOptionsBytes)->Iterations(1);

}  // namespace
}  // namespace aiot::ml
