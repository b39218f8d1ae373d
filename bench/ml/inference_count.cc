// Fixed-work inference driver for instruction counting, the load-independent figure on a shared
// machine: runs `count` single-sample Score calls and `count` samples through ScoreBatch(1024)
// for the float and the int8 reference model. Run it under callgrind, collecting only inside the
// Scorer (see BENCHMARKS.md), and divide the instructions by `count`:
//   valgrind --tool=callgrind --toggle-collect='aiot::ml::Scorer::ScoreBatch*'
//            ml_inference_count batch int8 102400
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench/ml/reference_model.h"
#include "ml/runtime/kernels.h"

int main(int argc, char** argv) {
  if (argc != 4 || (std::strcmp(argv[1], "single") != 0 && std::strcmp(argv[1], "batch") != 0) ||
      (std::strcmp(argv[2], "float") != 0 && std::strcmp(argv[2], "int8") != 0)) {
    std::fprintf(stderr, "usage: %s single|batch float|int8 COUNT\n", argv[0]);
    return 2;
  }
  const bool batch = std::strcmp(argv[1], "batch") == 0;
  const bool int8 = std::strcmp(argv[2], "int8") == 0;
  const long count = std::atol(argv[3]);
  constexpr int kBatch = 1024;
  auto scorer = aiot::ml::Scorer::Create(aiot::ml::Build(int8), {.max_batch = kBatch}).value();
  const auto x = aiot::ml::Rows(kBatch);
  std::vector<float> out(kBatch);
  double sum = 0;
  if (batch) {
    for (long done = 0; done < count; done += kBatch) {
      scorer->ScoreBatch(x.data(), kBatch, out.data());
      sum += out[0];
    }
  } else {
    for (long i = 0; i < count; ++i) sum += scorer->Score(x.data() + 4 * (i & (kBatch - 1)));
  }
  std::printf("%s %s %ld samples, kernels %s, checksum %.6f\n", argv[1], argv[2], count,
              aiot::ml::kernels::IsaName(aiot::ml::kernels::BestIsa()), sum);
  return 0;
}
