#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "ml/data/csv.h"

namespace aiot::ml {

// Which columns of a table are features and which is the label. Everything comes from flags or
// configuration, so a new data set needs no code change.
struct DatasetSchema {
  std::string label;  // label column; empty for unlabeled data (scoring)
  std::vector<std::string>
      features;                   // explicit feature columns in order; empty = all other columns
  std::vector<std::string> drop;  // columns to ignore when features are implicit
  std::map<std::string, int>
      label_map;  // label text -> class id; empty = labels are integers 0..K-1
};

// Parses "a=0,b=1" into a label map. False on malformed text.
bool ParseLabelMap(const std::string& text, std::map<std::string, int>* out);
// Splits "a,b,c" (blanks trimmed, empty items dropped).
std::vector<std::string> SplitList(const std::string& text);

// A numeric data set: rows x features, row-major, and integer class labels.
struct Dataset {
  std::vector<std::string> feature_names;
  std::vector<std::string> class_names;  // class id -> name
  std::string label_name;
  size_t rows = 0;
  size_t cols = 0;
  std::vector<float> x;    // rows * cols
  std::vector<int32_t> y;  // rows labels, or empty when unlabeled
  // Regression (e.g. time to failure): one target per row; empty for classification. A data set
  // with targets has no classes (class_names empty, y empty).
  std::vector<float> target;
  // Optional group of each row (e.g. the device): a split keeps a group's rows together, so
  // held-out rows come from machines the model has not seen. Empty = no groups.
  std::vector<int32_t> group;
  std::string sha256;  // of the source bytes when loaded from a file

  int num_classes() const { return static_cast<int>(class_names.size()); }
  bool regression() const { return !target.empty(); }
  const float* Row(size_t i) const { return x.data() + i * cols; }
  // The rows at `indices`, in that order.
  Dataset Subset(const std::vector<size_t>& indices) const;
};

// Builds a data set from a table. Errors name the row (line of the file, counting the header as
// line 1) and the column: missing values, non-numeric values, unknown labels, unknown columns.
Result<Dataset> BuildDataset(const CsvTable& table, const DatasetSchema& schema);
// Reads a CSV file, builds the data set and records the file's sha256. Errors are ParseCsv's or
// BuildDataset's with the path in front of the message.
Result<Dataset> LoadDataset(const std::string& path, const DatasetSchema& schema);

// Train / validation / test row indices. Stratified: each class is split in the same proportions.
struct Split {
  std::vector<size_t> train;
  std::vector<size_t> validation;
  std::vector<size_t> test;
};
// `test_fraction` of all rows go to test, then `validation_fraction` of the rest to validation.
Split StratifiedSplit(const std::vector<int32_t>& y, int num_classes, double test_fraction,
                      double validation_fraction, uint64_t seed);

// Regression rows: with groups, whole groups (shuffled) go to test until `test_fraction` of the
// rows are there, then to validation likewise; without groups, rows are shuffled and cut.
Split RandomSplit(size_t rows, const std::vector<int32_t>& group, double test_fraction,
                  double validation_fraction, uint64_t seed);

// Per-feature mean and standard deviation (population), computed on the given rows only.
struct Normalization {
  std::vector<float> mean;
  std::vector<float> stddev;  // never 0 (constant features get 1)
};
Normalization ComputeNormalization(const Dataset& data, const std::vector<size_t>& rows);

}  // namespace aiot::ml
