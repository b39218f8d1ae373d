// libFuzzer target: arbitrary bytes as a .tflite model. Loading (verifier, index checks, metadata),
// Prepare and one Invoke must never crash, whatever the input. Inputs that start with AGBT are
// also decoded as AIOT_TREE_ENSEMBLE options (both versions' fields reached directly) and, when
// valid, scored by the reference and binned kernels, which must agree.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ml/runtime/interpreter.h"
#include "ml/runtime/model.h"
#include "ml/runtime/tree_ensemble.h"

namespace {

void FuzzTreeOptions(const uint8_t* data, size_t size) {
  auto e = aiot::ml::DecodeTreeEnsemble(data, size);
  if (!e.ok() || e->num_features > 64) return;
  std::vector<float> x(2 * static_cast<size_t>(e->num_features));
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = i % 5 == 0 ? std::nanf("") : static_cast<float>(i % 7) - 3.f;
  }
  float ref[2], opt[2];
  aiot::ml::kernels::TreeEnsembleRef(*e, x.data(), 2, ref);
  if (!aiot::ml::kernels::CanBin(*e)) return;
  const aiot::ml::kernels::BinnedTrees b = aiot::ml::kernels::BinTrees(*e);
  std::vector<uint16_t> scratch(b.ScratchSize());
  aiot::ml::kernels::TreeEnsembleBinned(b, x.data(), 2, opt, scratch.data());
  if (std::memcmp(ref, opt, sizeof ref) != 0) std::abort();
  // Re-encoding what was decoded gives options that decode again.
  for (auto enc : {aiot::ml::TreeEncoding::kFloat, aiot::ml::TreeEncoding::kBinned}) {
    const std::vector<uint8_t> again = aiot::ml::EncodeTreeEnsemble(*e, enc);
    if (!aiot::ml::DecodeTreeEnsemble(again.data(), again.size()).ok()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 4 && std::memcmp(data, "AGBT", 4) == 0) FuzzTreeOptions(data, size);
  std::vector<uint8_t> bytes(data, data + size);
  auto model = aiot::ml::Model::FromBytes(std::move(bytes));
  if (!model.ok()) return 0;
  for (bool reference : {false, true}) {
    aiot::ml::InterpreterOptions o;
    o.max_batch = 2;
    o.reference_kernels = reference;
    auto it = aiot::ml::Interpreter::Create((*model)->graph(), o);
    if (!it.ok()) continue;
    for (size_t i = 0; i < (*it)->num_inputs(); ++i) {
      auto in = (*it)->input(i, 2);
      auto* p = static_cast<uint8_t*>(in.data);
      const size_t n = in.elements * aiot::ml::TensorTypeSize(in.type);
      for (size_t b = 0; b < n; ++b) p[b] = static_cast<uint8_t>(b * 37);
    }
    (void)(*it)->Invoke(2);
  }
  return 0;
}
