// libFuzzer target: arbitrary bytes as a derived-feature definition ("name = expression", as in
// a recipe file), parsed against fixed columns and, when valid, evaluated on a row and added to a
// small data set. Errors are fine; crashes, hangs and unbounded recursion are not.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ml/data/dataset.h"
#include "ml/data/derive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> columns = {"a", "b", "c", "Air temperature [K]"};
  auto d = aiot::ml::ParseDerivedList({std::string(text), "z = a * 2"}, columns);
  if (!d.ok()) return 0;
  aiot::ml::Dataset ds;
  ds.feature_names = columns;
  ds.rows = 2;
  ds.cols = 4;
  ds.x = {1.f, -2.f, 3.5f, 300.f, 0.f, 0.f, 1e30f, -1e-30f};
  ds.y = {0, 1};
  ds.class_names = {"0", "1"};
  std::vector<float> row = {1.f, 2.f, 3.f, 4.f, 0.f};
  (void)aiot::ml::EvaluateDerived((*d)[0], row.data());
  (void)aiot::ml::AddDerived(ds, *d);
  return 0;
}
