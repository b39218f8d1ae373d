#include "ml/train/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

namespace aiot::ml {

double RocAuc(const std::vector<float>& scores, const std::vector<int32_t>& labels) {
  const size_t n = scores.size();
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum_pos = 0;
  size_t pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[idx[j]] == scores[idx[i]]) ++j;
    const double avg_rank = (static_cast<double>(i) + static_cast<double>(j) + 1) / 2.0;
    for (size_t t = i; t < j; ++t) {
      if (labels[idx[t]] == 1) {
        rank_sum_pos += avg_rank;
        ++pos;
      }
    }
    i = j;
  }
  const size_t neg = n - pos;
  if (pos == 0 || neg == 0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum_pos - static_cast<double>(pos) * (static_cast<double>(pos) + 1) / 2.0) /
         (static_cast<double>(pos) * static_cast<double>(neg));
}

EvalReport Evaluate(const std::vector<float>& scores, const std::vector<int32_t>& labels,
                    int num_classes, double threshold) {
  EvalReport r;
  r.samples = labels.size();
  r.num_classes = num_classes;
  r.threshold = threshold;
  r.confusion.assign(num_classes, std::vector<int64_t>(num_classes, 0));
  const int width = num_classes == 2 ? 1 : num_classes;
  size_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    int p = PredictedClass(scores.data() + i * width, num_classes, threshold);
    r.confusion[labels[i]][p]++;
    correct += p == labels[i];
  }
  r.accuracy = r.samples ? static_cast<double>(correct) / static_cast<double>(r.samples) : 0;
  auto prf = [&](int c, double* p, double* rc, double* f) {
    int64_t tp = r.confusion[c][c], fp = 0, fn = 0;
    for (int k = 0; k < num_classes; ++k) {
      if (k == c) continue;
      fp += r.confusion[k][c];
      fn += r.confusion[c][k];
    }
    *p = tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0;
    *rc = tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0;
    *f = *p + *rc > 0 ? 2 * *p * *rc / (*p + *rc) : 0;
  };
  if (num_classes == 2) {
    prf(1, &r.precision, &r.recall, &r.f1);
    r.roc_auc = RocAuc(scores, labels);
  } else {
    for (int c = 0; c < num_classes; ++c) {
      double p, rc, f;
      prf(c, &p, &rc, &f);
      r.precision += p / num_classes;
      r.recall += rc / num_classes;
      r.f1 += f / num_classes;
    }
    r.roc_auc = std::numeric_limits<double>::quiet_NaN();
  }
  return r;
}

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string ToJson(const EvalReport& r) {
  std::string s =
      "{\"samples\":" + std::to_string(r.samples) +
      ",\"classes\":" + std::to_string(r.num_classes) +
      ",\"threshold\":" + JsonNumber(r.threshold) + ",\"accuracy\":" + JsonNumber(r.accuracy) +
      ",\"precision\":" + JsonNumber(r.precision) + ",\"recall\":" + JsonNumber(r.recall) +
      ",\"f1\":" + JsonNumber(r.f1) + ",\"roc_auc\":" + JsonNumber(r.roc_auc) + ",\"confusion\":[";
  for (size_t i = 0; i < r.confusion.size(); ++i) {
    s += i ? ",[" : "[";
    for (size_t j = 0; j < r.confusion[i].size(); ++j) {
      s += (j ? "," : "") + std::to_string(r.confusion[i][j]);
    }
    s += "]";
  }
  return s + "]}";
}

}  // namespace aiot::ml
