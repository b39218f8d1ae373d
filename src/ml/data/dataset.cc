#include "ml/data/dataset.h"

#include <map>

#include <algorithm>
#include <cmath>
#include <set>

#include "base/errc.h"
#include "base/file.h"
#include "base/sha256.h"
#include "ml/data/random.h"

namespace aiot::ml {
namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// The label column (-1 for none) and the feature columns in model input order.
struct Columns {
  int label = -1;
  std::vector<int> features;
};

Result<Columns> ResolveColumns(const CsvTable& table, const DatasetSchema& schema) {
  Columns c;
  if (!schema.label.empty()) {
    c.label = table.Column(schema.label);
    if (c.label < 0) {
      return Status(errc::not_found, "label column '" + schema.label + "' not found in the header");
    }
  }
  for (const auto& name : schema.drop) {
    if (table.Column(name) < 0) {
      return Status(errc::not_found, "column '" + name + "' (to drop) not found in the header");
    }
  }
  if (!schema.features.empty()) {
    for (const auto& name : schema.features) {
      int col = table.Column(name);
      if (col < 0) {
        return Status(errc::not_found, "feature column '" + name + "' not found in the header");
      }
      if (col == c.label) {
        return Status(errc::invalid_argument,
                      "column '" + name + "' is both a feature and the label");
      }
      c.features.push_back(col);
    }
  } else {
    std::set<std::string> drop(schema.drop.begin(), schema.drop.end());
    for (size_t col = 0; col < table.header.size(); ++col) {
      if (static_cast<int>(col) == c.label || drop.count(table.header[col])) continue;
      c.features.push_back(static_cast<int>(col));
    }
  }
  if (c.features.empty()) return Status(errc::invalid_argument, "no feature columns");
  return c;
}

// "row L, column 'NAME' (N): " for errors in a cell.
std::string Where(size_t line, const std::string& name, int col) {
  return "row " + std::to_string(line) + ", column '" + name + "' (" + std::to_string(col + 1) +
         "): ";
}

// One row's feature cells as numbers into `x`.
Status ParseFeatures(const CsvTable& table, const std::vector<std::string>& row, size_t line,
                     const std::vector<int>& cols, float* x) {
  for (size_t j = 0; j < cols.size(); ++j) {
    const std::string& cell = row[cols[j]];
    double v;
    if (!ParseNumber(cell, &v)) {
      std::string what = Trim(cell).empty() ? "missing value" : "non-numeric value '" + cell + "'";
      return Status(errc::parse_error, Where(line, table.header[cols[j]], cols[j]) + what);
    }
    x[j] = static_cast<float>(v);
  }
  return Status::Ok();
}

// The class of a label cell: through the label map, or a number 0..1000.
Result<int> ParseLabel(const std::string& raw, const DatasetSchema& schema, int col, size_t line) {
  const std::string cell = Trim(raw);
  if (!schema.label_map.empty()) {
    auto it = schema.label_map.find(cell);
    if (it == schema.label_map.end()) {
      return Status(errc::parse_error, Where(line, schema.label, col) + "label '" + cell +
                                           "' is not in the label map");
    }
    return it->second;
  }
  double v;
  if (!ParseNumber(cell, &v) || v < 0 || v != std::floor(v) || v > 1000) {
    return Status(errc::parse_error,
                  Where(line, schema.label, col) + "label '" + cell +
                      "' is not a class number 0..K-1; map text labels with --label-map");
  }
  return static_cast<int>(v);
}

// Class names: at least two classes ("0", "1", ...), the label map's text where it has one.
std::vector<std::string> ClassNames(int max_class, const std::map<std::string, int>& label_map) {
  const int k = std::max(max_class + 1, 2);
  std::vector<std::string> names(k);
  for (int c = 0; c < k; ++c) names[c] = std::to_string(c);
  for (const auto& [name, id] : label_map) {
    if (id < k) names[id] = name;
  }
  return names;
}

}  // namespace

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = Trim(std::string_view(text).substr(start, end - start));
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

bool ParseLabelMap(const std::string& text, std::map<std::string, int>* out) {
  out->clear();
  for (const auto& item : SplitList(text)) {
    size_t eq = item.rfind('=');
    if (eq == std::string::npos || eq == 0) return false;
    double v;
    if (!ParseNumber(std::string_view(item).substr(eq + 1), &v) || v < 0 || v != std::floor(v) ||
        v > 1000) {
      return false;
    }
    (*out)[Trim(std::string_view(item).substr(0, eq))] = static_cast<int>(v);
  }
  return !out->empty();
}

Dataset Dataset::Subset(const std::vector<size_t>& indices) const {
  Dataset d;
  d.feature_names = feature_names;
  d.class_names = class_names;
  d.label_name = label_name;
  d.sha256 = sha256;
  d.cols = cols;
  d.rows = indices.size();
  d.x.resize(d.rows * cols);
  if (!y.empty()) d.y.resize(d.rows);
  if (!target.empty()) d.target.resize(d.rows);
  if (!group.empty()) d.group.resize(d.rows);
  for (size_t i = 0; i < indices.size(); ++i) {
    std::copy_n(Row(indices[i]), cols, d.x.data() + i * cols);
    if (!y.empty()) d.y[i] = y[indices[i]];
    if (!target.empty()) d.target[i] = target[indices[i]];
    if (!group.empty()) d.group[i] = group[indices[i]];
  }
  return d;
}

Result<Dataset> BuildDataset(const CsvTable& table, const DatasetSchema& schema) {
  auto cols = ResolveColumns(table, schema);
  if (!cols.ok()) return cols.status();
  const int label_col = cols->label;
  Dataset d;
  for (int c : cols->features) d.feature_names.push_back(table.header[c]);
  d.label_name = schema.label;
  d.cols = cols->features.size();
  d.rows = table.rows.size();
  d.x.resize(d.rows * d.cols);
  if (label_col >= 0) d.y.resize(d.rows);
  int max_class = -1;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    const size_t line = r + 2;  // the header is line 1
    if (Status st = ParseFeatures(table, row, line, cols->features, &d.x[r * d.cols]); !st.ok()) {
      return st;
    }
    if (label_col < 0) continue;
    auto cls = ParseLabel(row[label_col], schema, label_col, line);
    if (!cls.ok()) return cls.status();
    d.y[r] = *cls;
    max_class = std::max(max_class, *cls);
  }
  if (label_col >= 0) d.class_names = ClassNames(max_class, schema.label_map);
  return d;
}

Result<Dataset> LoadDataset(const std::string& path, const DatasetSchema& schema) {
  auto bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  auto table = ParseCsv(*bytes);
  if (!table.ok()) return table.status().Prefix(path);
  auto data = BuildDataset(*table, schema);
  if (!data.ok()) return data.status().Prefix(path);
  data->sha256 = Sha256Hex(*bytes);
  return data;
}

Split StratifiedSplit(const std::vector<int32_t>& y, int num_classes, double test_fraction,
                      double validation_fraction, uint64_t seed) {
  Rng rng(seed);
  Split s;
  for (int c = 0; c < num_classes; ++c) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < y.size(); ++i) {
      if (y[i] == c) idx.push_back(i);
    }
    rng.Shuffle(idx);
    size_t n_test =
        static_cast<size_t>(std::llround(test_fraction * static_cast<double>(idx.size())));
    size_t rest = idx.size() - n_test;
    size_t n_val =
        static_cast<size_t>(std::llround(validation_fraction * static_cast<double>(rest)));
    for (size_t i = 0; i < idx.size(); ++i) {
      if (i < n_test) {
        s.test.push_back(idx[i]);
      } else if (i < n_test + n_val) {
        s.validation.push_back(idx[i]);
      } else {
        s.train.push_back(idx[i]);
      }
    }
  }
  // Interleave classes so that consumers that do not shuffle still see mixed batches.
  rng.Shuffle(s.train);
  rng.Shuffle(s.validation);
  rng.Shuffle(s.test);
  return s;
}

Split RandomSplit(size_t rows, const std::vector<int32_t>& group, double test_fraction,
                  double validation_fraction, uint64_t seed) {
  Rng rng(seed);
  Split s;
  if (group.size() != rows) {
    std::vector<size_t> idx(rows);
    for (size_t i = 0; i < rows; ++i) idx[i] = i;
    rng.Shuffle(idx);
    const auto n_test =
        static_cast<size_t>(std::llround(test_fraction * static_cast<double>(rows)));
    const auto n_val =
        static_cast<size_t>(std::llround(validation_fraction * static_cast<double>(rows - n_test)));
    for (size_t i = 0; i < rows; ++i) {
      (i < n_test ? s.test : i < n_test + n_val ? s.validation : s.train).push_back(idx[i]);
    }
    return s;
  }
  std::map<int32_t, std::vector<size_t>> by_group;
  for (size_t i = 0; i < rows; ++i) by_group[group[i]].push_back(i);
  std::vector<int32_t> ids;
  for (const auto& [id, members] : by_group) ids.push_back(id);
  std::vector<size_t> order(ids.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  rng.Shuffle(order);
  const double want_test = test_fraction * static_cast<double>(rows);
  const double want_val = validation_fraction * (static_cast<double>(rows) - want_test);
  size_t k = 0;
  // A group joins test (then validation) while that keeps the part at or under its share, and
  // each part gets at least one group when asked for; the training part keeps at least one.
  auto fill = [&](std::vector<size_t>& part, double want) {
    while (k + 1 < order.size() && want > 0) {
      const auto& members = by_group[ids[order[k]]];
      if (!part.empty() && static_cast<double>(part.size() + members.size()) > want) break;
      part.insert(part.end(), members.begin(), members.end());
      ++k;
    }
  };
  fill(s.test, want_test);
  fill(s.validation, want_val);
  for (; k < order.size(); ++k) {
    const auto& members = by_group[ids[order[k]]];
    s.train.insert(s.train.end(), members.begin(), members.end());
  }
  rng.Shuffle(s.train);
  return s;
}

Normalization ComputeNormalization(const Dataset& data, const std::vector<size_t>& rows) {
  Normalization n;
  n.mean.assign(data.cols, 0.f);
  n.stddev.assign(data.cols, 1.f);
  if (rows.empty()) return n;
  for (size_t j = 0; j < data.cols; ++j) {
    double sum = 0;
    for (size_t r : rows) sum += data.Row(r)[j];
    double mean = sum / static_cast<double>(rows.size());
    double sq = 0;
    for (size_t r : rows) {
      double d = data.Row(r)[j] - mean;
      sq += d * d;
    }
    double sd = std::sqrt(sq / static_cast<double>(rows.size()));
    n.mean[j] = static_cast<float>(mean);
    n.stddev[j] = sd > 1e-12 ? static_cast<float>(sd) : 1.f;
  }
  return n;
}

}  // namespace aiot::ml
