#include "ml/data/derive.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "base/errc.h"
#include "ml/data/csv.h"

namespace aiot::ml {

namespace {

constexpr size_t kMaxText = 4096;
constexpr int kMaxDepth = 64;

float Apply(DeriveStep::Kind k, float a, float b) {
  switch (k) {
    case DeriveStep::Kind::kAdd:
      return a + b;
    case DeriveStep::Kind::kSub:
      return a - b;
    case DeriveStep::Kind::kMul:
      return a * b;
    default:
      return a / b;
  }
}

// A parsed sub-expression: a constant (folded) or a postfix program.
struct Operand {
  bool constant = true;
  float value = 0;
  std::vector<DeriveStep> steps;

  void AppendTo(std::vector<DeriveStep>& out) const {
    if (constant) {
      out.push_back({DeriveStep::Kind::kConstant, -1, value});
    } else {
      out.insert(out.end(), steps.begin(), steps.end());
    }
  }
};

Operand Combine(DeriveStep::Kind k, const Operand& a, const Operand& b) {
  Operand r;
  if (a.constant && b.constant) {
    r.value = Apply(k, a.value, b.value);
    return r;
  }
  r.constant = false;
  a.AppendTo(r.steps);
  b.AppendTo(r.steps);
  r.steps.push_back({k, -1, 0});
  return r;
}

class Parser {
 public:
  Parser(std::string_view text, const std::vector<std::string>& columns)
      : text_(text), columns_(columns) {}

  Result<DerivedFeature> Run() {
    DerivedFeature d;
    if (text_.size() > kMaxText) return Error(0, "longer than 4096 characters");
    Skip();
    auto name = Identifier();
    if (!name.ok()) return name.status();
    d.name = *name;
    Skip();
    if (!Eat('=')) return Error(pos_, "expected '=' after the feature name");
    Skip();
    const size_t start = pos_;
    auto e = Expression(0);
    if (!e.ok()) return e.status();
    if (pos_ < text_.size()) return Error(pos_, "unexpected character '" + Char() + "'");
    if (e->constant) return Error(start, "the expression uses no column");
    d.expression = std::string(text_.substr(start));
    while (!d.expression.empty() && std::isspace(static_cast<unsigned char>(d.expression.back())))
      d.expression.pop_back();
    d.steps = std::move(e->steps);
    return d;
  }

 private:
  Status Error(size_t at, const std::string& what) const {
    return Status(errc::parse_error, "derive `" + std::string(text_.substr(0, 200)) + "`: column " +
                                         std::to_string(at + 1) + ": " + what);
  }
  std::string Char() const { return std::string(1, text_[pos_]); }
  void Skip() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Eat(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  static bool IdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
  static bool IdentChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  }

  // A bare name (letters, digits, _ and .; not starting with a digit) or `any text`.
  Result<std::string> Identifier() {
    const size_t start = pos_;
    if (Eat('`')) {
      const size_t close = text_.find('`', pos_);
      if (close == std::string_view::npos) return Error(start, "unterminated `name`");
      std::string name(text_.substr(pos_, close - pos_));
      pos_ = close + 1;
      if (name.empty()) return Error(start, "empty `name`");
      return name;
    }
    if (pos_ >= text_.size() || !IdentStart(text_[pos_])) {
      return Error(pos_, "expected a name");
    }
    while (pos_ < text_.size() && IdentChar(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  // expression := term (('+' | '-') term)*
  Result<Operand> Expression(int depth) {
    auto left = Term(depth);
    if (!left.ok()) return left;
    Operand acc = std::move(*left);
    for (;;) {
      Skip();
      if (pos_ >= text_.size() || (text_[pos_] != '+' && text_[pos_] != '-')) return acc;
      const auto k = text_[pos_++] == '+' ? DeriveStep::Kind::kAdd : DeriveStep::Kind::kSub;
      auto right = Term(depth);
      if (!right.ok()) return right;
      acc = Combine(k, acc, *right);
    }
  }

  // term := factor (('*' | '/') factor)*
  Result<Operand> Term(int depth) {
    auto left = Factor(depth);
    if (!left.ok()) return left;
    Operand acc = std::move(*left);
    for (;;) {
      Skip();
      if (pos_ >= text_.size() || (text_[pos_] != '*' && text_[pos_] != '/')) return acc;
      const auto k = text_[pos_++] == '*' ? DeriveStep::Kind::kMul : DeriveStep::Kind::kDiv;
      auto right = Factor(depth);
      if (!right.ok()) return right;
      acc = Combine(k, acc, *right);
    }
  }

  // factor := number | name | '(' expression ')' | ('-' | '+') factor
  Result<Operand> Factor(int depth) {
    if (depth > kMaxDepth) return Error(pos_, "nested deeper than 64");
    Skip();
    if (pos_ >= text_.size()) return Error(pos_, "expected a column name, a number or '('");
    const size_t start = pos_;
    const char c = text_[pos_];
    if (c == '-' || c == '+') {
      ++pos_;
      auto f = Factor(depth + 1);
      if (!f.ok() || c == '+') return f;
      Operand minus_one;
      minus_one.value = -1.f;
      if (f->constant) return Operand{true, -f->value, {}};
      return Combine(DeriveStep::Kind::kMul, *f, minus_one);  // x * -1 == -x exactly
    }
    if (c == '(') {
      ++pos_;
      auto e = Expression(depth + 1);
      if (!e.ok()) return e;
      Skip();
      if (!Eat(')'))
        return Error(pos_, "expected ')' to close the '(' at column " + std::to_string(start + 1));
      return e;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return Number();
    if (!IdentStart(c) && c != '`') {
      return Error(pos_, "expected a column name, a number or '(' but found '" + Char() + "'");
    }
    auto name = Identifier();
    if (!name.ok()) return name.status();
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i] == *name) {
        Operand r;
        r.constant = false;
        r.steps.push_back({DeriveStep::Kind::kColumn, static_cast<int>(i), 0});
        return r;
      }
    }
    return Error(start, "unknown column `" + *name + "`");
  }

  Result<Operand> Number() {
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.')) {
      ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    }
    double v = 0;
    if (!ParseNumber(text_.substr(start, pos_ - start), &v) || !std::isfinite(v) ||
        !std::isfinite(static_cast<float>(v))) {
      return Error(start, "`" + std::string(text_.substr(start, pos_ - start)) +
                              "` is not a finite float32 number");
    }
    return Operand{true, static_cast<float>(v), {}};
  }

  std::string_view text_;
  const std::vector<std::string>& columns_;
  size_t pos_ = 0;
};

}  // namespace

Result<DerivedFeature> ParseDerived(std::string_view text,
                                    const std::vector<std::string>& columns) {
  return Parser(text, columns).Run();
}

Result<std::vector<DerivedFeature>> ParseDerivedList(const std::vector<std::string>& texts,
                                                     const std::vector<std::string>& raw_columns) {
  std::vector<std::string> names = raw_columns;
  std::vector<DerivedFeature> out;
  for (const std::string& t : texts) {
    auto d = ParseDerived(t, names);
    if (!d.ok()) return d.status();
    for (const std::string& n : names) {
      if (n == d->name) {
        return Status(errc::invalid_argument,
                      "derive `" + t + "`: `" + n + "` is already a column or a derived feature");
      }
    }
    names.push_back(d->name);
    out.push_back(std::move(*d));
  }
  return out;
}

float EvaluateDerived(const DerivedFeature& d, const float* row) {
  float stack[kMaxText + 1];  // a program has at most one value per character of its text
  size_t top = 0;
  for (const DeriveStep& s : d.steps) {
    if (s.kind == DeriveStep::Kind::kColumn) {
      stack[top++] = row[s.column];
    } else if (s.kind == DeriveStep::Kind::kConstant) {
      stack[top++] = s.value;
    } else {
      const float b = stack[--top];
      stack[top - 1] = Apply(s.kind, stack[top - 1], b);
    }
  }
  return top ? stack[top - 1] : 0.f;
}

Result<Dataset> AddDerived(const Dataset& data, const std::vector<DerivedFeature>& derived) {
  if (derived.empty()) return data;
  Dataset out;
  out.feature_names = data.feature_names;
  for (const auto& d : derived) out.feature_names.push_back(d.name);
  out.class_names = data.class_names;
  out.label_name = data.label_name;
  out.rows = data.rows;
  out.cols = data.cols + derived.size();
  out.y = data.y;
  out.target = data.target;
  out.group = data.group;
  out.sha256 = data.sha256;
  out.x.resize(out.rows * out.cols);
  for (size_t r = 0; r < data.rows; ++r) {
    float* row = out.x.data() + r * out.cols;
    std::copy_n(data.Row(r), data.cols, row);
    for (size_t k = 0; k < derived.size(); ++k) {
      const float v = EvaluateDerived(derived[k], row);
      if (!std::isfinite(v)) {
        char value[32];
        std::snprintf(value, sizeof(value), "%g", static_cast<double>(v));
        return Status(errc::invalid_argument,
                      "derived feature `" + derived[k].ToString() + "` is " + value +
                          " on data row " + std::to_string(r + 1) +
                          " (a division by zero or an overflow): the model cannot learn from it");
      }
      row[data.cols + k] = v;
    }
  }
  return out;
}

}  // namespace aiot::ml
