// libFuzzer target: arbitrary bytes as a .tflite model. Loading (verifier, index checks, metadata),
// Prepare and one Invoke must never crash, whatever the input.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ml/runtime/interpreter.h"
#include "ml/runtime/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
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
