#include "ml/train/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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
  r.per_class.resize(num_classes);
  for (int c = 0; c < num_classes; ++c) {
    auto& pc = r.per_class[c];
    prf(c, &pc.precision, &pc.recall, &pc.f1);
    for (int k = 0; k < num_classes; ++k) pc.support += r.confusion[c][k];
  }
  r.ece = num_classes == 2 ? ExpectedCalibrationError(scores, labels)
                           : std::numeric_limits<double>::quiet_NaN();
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
  s += "],\"per_class\":[";
  for (size_t c = 0; c < r.per_class.size(); ++c) {
    const auto& pc = r.per_class[c];
    s += std::string(c ? "," : "") + "{\"class\":" + std::to_string(c) +
         ",\"precision\":" + JsonNumber(pc.precision) + ",\"recall\":" + JsonNumber(pc.recall) +
         ",\"f1\":" + JsonNumber(pc.f1) + ",\"support\":" + std::to_string(pc.support) + "}";
  }
  return s + "],\"ece\":" + JsonNumber(r.ece) + "}";
}

double ExpectedCalibrationError(const std::vector<float>& scores,
                                const std::vector<int32_t>& labels, int bins) {
  const size_t n = std::min(scores.size(), labels.size());
  if (n == 0 || bins < 1) return 0;
  std::vector<double> sum(bins, 0), pos(bins, 0), count(bins, 0);
  for (size_t i = 0; i < n; ++i) {
    const double p = std::clamp(static_cast<double>(scores[i]), 0.0, 1.0);
    const int b = std::min(bins - 1, static_cast<int>(p * bins));
    sum[b] += p;
    pos[b] += labels[i] == 1;
    count[b] += 1;
  }
  double ece = 0;
  for (int b = 0; b < bins; ++b) {
    if (count[b] > 0) ece += std::abs(sum[b] - pos[b]) / static_cast<double>(n);
  }
  return ece;
}

std::string ThresholdRule::ToString() const {
  switch (kind) {
    case Kind::kF1:
      return "f1";
    case Kind::kPrecision:
      return "precision:" + JsonNumber(value);
    case Kind::kBudget:
      return "budget:" + JsonNumber(value);
    default:
      return JsonNumber(value);
  }
}

bool ParseThresholdRule(const std::string& text, ThresholdRule* rule) {
  auto number = [](const std::string& t, double* v) {
    char* end = nullptr;
    *v = std::strtod(t.c_str(), &end);
    return !t.empty() && end == t.c_str() + t.size() && std::isfinite(*v);
  };
  ThresholdRule r = *rule;
  double v = 0;
  if (text == "f1") {
    r.kind = ThresholdRule::Kind::kF1;
  } else if (text.rfind("precision:", 0) == 0 && number(text.substr(10), &v) && v > 0 && v <= 1) {
    r.kind = ThresholdRule::Kind::kPrecision;
    r.value = v;
  } else if (text.rfind("budget:", 0) == 0 && number(text.substr(7), &v) && v >= 0) {
    r.kind = ThresholdRule::Kind::kBudget;
    r.value = v;
  } else if (number(text, &v) && v > 0 && v < 1) {
    r.kind = ThresholdRule::Kind::kFixed;
    r.value = v;
  } else {
    return false;
  }
  *rule = r;
  return true;
}

ThresholdChoice ChooseThreshold(const std::vector<float>& scores,
                                const std::vector<int32_t>& labels, const ThresholdRule& rule) {
  const size_t n = std::min(scores.size(), labels.size());
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  int64_t positives = 0;
  for (size_t i = 0; i < n; ++i) positives += labels[i] == 1;
  ThresholdChoice best;
  best.threshold = rule.kind == ThresholdRule::Kind::kFixed ? rule.value : 1.0;
  best.target_met = rule.kind != ThresholdRule::Kind::kPrecision;
  bool have = false;
  int64_t tp = 0;
  // Walk the thresholds from high to low: each distinct score flags every row scoring >= it.
  for (size_t i = 0; i < n; ++i) {
    tp += labels[order[i]] == 1;
    if (i + 1 < n && scores[order[i + 1]] == scores[order[i]]) continue;
    ThresholdChoice c;
    c.threshold = scores[order[i]];
    const double flagged = static_cast<double>(i + 1);
    c.precision = static_cast<double>(tp) / flagged;
    c.recall = positives ? static_cast<double>(tp) / static_cast<double>(positives) : 0;
    c.f1 = c.precision + c.recall > 0 ? 2 * c.precision * c.recall / (c.precision + c.recall) : 0;
    c.alert_rate = flagged / static_cast<double>(n);
    bool better = false;
    switch (rule.kind) {
      case ThresholdRule::Kind::kF1:
        better = !have || c.f1 > best.f1;
        break;
      case ThresholdRule::Kind::kPrecision:
        c.target_met = c.precision >= rule.value;
        better = !have || (c.target_met && (!best.target_met || c.recall > best.recall)) ||
                 (!c.target_met && !best.target_met && c.precision > best.precision);
        break;
      case ThresholdRule::Kind::kBudget:
        better = c.alert_rate * rule.readings_per_day <= rule.value;  // lower and lower: keep
        break;
      default:
        return best;
    }
    if (better) {
      best = c;
      have = true;
    }
  }
  if (rule.kind == ThresholdRule::Kind::kBudget) best.target_met = have;
  return best;
}

RegressionReport EvaluateRegression(const std::vector<float>& predictions,
                                    const std::vector<float>& truth, double baseline) {
  RegressionReport r;
  r.baseline = baseline;
  r.samples = std::min(predictions.size(), truth.size());
  if (r.samples == 0) return r;
  double mean = 0;
  for (size_t i = 0; i < r.samples; ++i) mean += truth[i];
  mean /= static_cast<double>(r.samples);
  double ae = 0, se = 0, bae = 0, bse = 0, sst = 0;
  for (size_t i = 0; i < r.samples; ++i) {
    const double e = static_cast<double>(predictions[i]) - truth[i];
    const double b = baseline - truth[i];
    ae += std::abs(e);
    se += e * e;
    bae += std::abs(b);
    bse += b * b;
    sst += (truth[i] - mean) * (truth[i] - mean);
  }
  const auto n = static_cast<double>(r.samples);
  r.mae = ae / n;
  r.rmse = std::sqrt(se / n);
  r.baseline_mae = bae / n;
  r.baseline_rmse = std::sqrt(bse / n);
  r.r2 = sst > 0 ? 1 - se / sst : 0;
  return r;
}

std::string ToJson(const RegressionReport& r) {
  return "{\"samples\":" + std::to_string(r.samples) + ",\"mae\":" + JsonNumber(r.mae) +
         ",\"rmse\":" + JsonNumber(r.rmse) + ",\"r2\":" + JsonNumber(r.r2) +
         ",\"baseline\":{\"value\":" + JsonNumber(r.baseline) +
         ",\"mae\":" + JsonNumber(r.baseline_mae) + ",\"rmse\":" + JsonNumber(r.baseline_rmse) +
         "}}";
}

}  // namespace aiot::ml
