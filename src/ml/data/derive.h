#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ml/data/dataset.h"

namespace aiot::ml {

// Derived features: `name = expression` over the input columns and earlier derived features,
// computed by the trainer on the data and compiled into the model's graph (export.h,
// AddDerivedFeatures) so a device feeds the raw readings and computes the same values.
//
// Expressions: identifiers (a column name; `back quotes` for names with other characters, e.g.
// `Air temperature [K]`), numbers (1, 0.10472, 2e-3), + - * /, unary minus, parentheses. Every
// operation is one IEEE 754 float32 operation in the order written (left to right for equal
// precedence), in the trainer as in the runtime, so both give the same bits; operations on
// constants alone are folded (in float) when parsing. x / 0 is +-inf and 0 / 0 NaN, as TFLite's
// DIV computes: the trainer refuses data where a derived value is not finite (AddDerived), and at
// run time trees send NaN where missing values go.
struct DeriveStep {
  enum class Kind : uint8_t { kColumn, kConstant, kAdd, kSub, kMul, kDiv };
  Kind kind = Kind::kConstant;
  int column = -1;  // kColumn: index into raw columns, then earlier derived features
  float value = 0;  // kConstant
};

struct DerivedFeature {
  std::string name;
  std::string expression;         // the text after '=', trimmed
  std::vector<DeriveStep> steps;  // postfix program

  std::string ToString() const { return name + " = " + expression; }
};

// Parses "name = expression". `columns` are the names an expression may use (the raw feature
// columns, then the derived names before this one). Errors (errc::parse_error) quote the text and
// give the 1-based column of the problem: "derive `p = a * `: column 9: expected a column name,
// a number or '('".
Result<DerivedFeature> ParseDerived(std::string_view text, const std::vector<std::string>& columns);

// Parses a list in order (each may use the ones before it); the names must be new.
Result<std::vector<DerivedFeature>> ParseDerivedList(const std::vector<std::string>& texts,
                                                     const std::vector<std::string>& raw_columns);

// One derived value: `row` holds the raw columns followed by the earlier derived values.
float EvaluateDerived(const DerivedFeature& d, const float* row);

// `data` with one column per derived feature appended (names from the features). Errors
// (errc::invalid_argument) name the feature, the data row (1-based) and the value when one is
// not finite (division by zero, overflow).
Result<Dataset> AddDerived(const Dataset& data, const std::vector<DerivedFeature>& derived);

}  // namespace aiot::ml
