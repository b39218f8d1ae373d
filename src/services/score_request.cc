#include "services/score_request.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <iterator>

#include "services/messages.h"
#include "services/telemetry.h"

namespace aiot::services {

namespace ondemand = simdjson::ondemand;

bool ScoreRequestParser::Fail(std::string message) {
  error_ = std::move(message);
  return false;
}

bool ScoreRequestParser::ParseRow(ondemand::value value, size_t index) {
  ondemand::array arr;
  if (value.get_array().get(arr)) {
    return Fail(index == SIZE_MAX
                    ? "`params` must be an array of numbers"
                    : fmt::format("`instances[{}]` must be an array of numbers", index));
  }
  auto where = [&](size_t k) {
    return index == SIZE_MAX ? fmt::format("`params[{}]`", k)
                             : fmt::format("`instances[{}][{}]`", index, k);
  };
  size_t k = 0;
  for (auto element : arr) {
    ondemand::value v;
    if (auto e = std::move(element).get(v)) {
      return Fail(fmt::format("body is not valid JSON ({})", simdjson::error_message(e)));
    }
    double x;
    if (v.get_double().get(x)) return Fail(where(k) + " is not a number");
    if (!std::isfinite(x) || !std::isfinite(static_cast<float>(x))) {
      return Fail(where(k) + " is not a finite number");
    }
    if (k >= width_) {
      return Fail(fmt::format(
          "{} has more than the model's {} features",
          index == SIZE_MAX ? std::string("`params`") : fmt::format("`instances[{}]`", index),
          width_));
    }
    rows_.push_back(static_cast<float>(x));
    ++k;
  }
  if (k != width_) {
    return Fail(fmt::format(
        "{} has {} values; the model takes {} (in order: its features)",
        index == SIZE_MAX ? std::string("`params`") : fmt::format("`instances[{}]`", index), k,
        width_));
  }
  return true;
}

bool ScoreRequestParser::Parse(std::string_view body, size_t width) {
  rows_.clear();
  error_.clear();
  width_ = width;
  batch_ = false;
  if (body.size() > limits_.max_body_bytes) {
    return Fail(
        fmt::format("body of {} bytes exceeds {} bytes", body.size(), limits_.max_body_bytes));
  }
  if (padded_.size() < body.size() + simdjson::SIMDJSON_PADDING) {
    padded_.resize(body.size() + simdjson::SIMDJSON_PADDING);
  }
  std::memcpy(padded_.data(), body.data(), body.size());
  ondemand::document doc;
  auto err =
      parser_.iterate(simdjson::padded_string_view(padded_.data(), body.size(), padded_.size()))
          .get(doc);
  const char* usage =
      "expected {\"params\":[rotation,temperature,vibration,sound]} or "
      "{\"instances\":[[...],...]}";
  if (err)
    return Fail(
        fmt::format("body is not valid JSON ({}); {}", simdjson::error_message(err), usage));
  ondemand::json_type top;
  if ((err = doc.type().get(top))) {
    return Fail(
        fmt::format("body is not valid JSON ({}); {}", simdjson::error_message(err), usage));
  }
  if (top != ondemand::json_type::object) {
    return Fail(IsValidNonObject(doc, top) ? fmt::format("body is not a JSON object; {}", usage)
                                           : fmt::format("body is not valid JSON; {}", usage));
  }
  ondemand::object obj;
  if ((err = doc.get_object().get(obj))) {
    return Fail(
        fmt::format("body is not valid JSON ({}); {}", simdjson::error_message(err), usage));
  }
  bool found = false;
  for (auto field_result : obj) {
    ondemand::field field;
    if ((err = std::move(field_result).get(field))) {
      return Fail(fmt::format("body is not valid JSON ({})", simdjson::error_message(err)));
    }
    std::string_view key;
    if ((err = field.unescaped_key().get(key))) {
      return Fail(fmt::format("body is not valid JSON ({})", simdjson::error_message(err)));
    }
    if (key == "params" || key == "instances") {
      if (found) return Fail("give either `params` or `instances`, once");
      found = true;
      if (key == "params") {
        if (!ParseRow(field.value(), SIZE_MAX)) return false;
      } else {
        batch_ = true;
        ondemand::array arr;
        if (field.value().get_array().get(arr)) {
          return Fail("`instances` must be an array of arrays of numbers");
        }
        size_t i = 0;
        for (auto element : arr) {
          ondemand::value v;
          if ((err = std::move(element).get(v))) {
            return Fail(fmt::format("body is not valid JSON ({})", simdjson::error_message(err)));
          }
          if (i >= limits_.max_instances) {
            return Fail(fmt::format("more than {} instances", limits_.max_instances));
          }
          if (!ParseRow(v, i)) return false;
          ++i;
        }
        if (i == 0) return Fail("`instances` is empty");
      }
    }
  }
  if (!doc.current_location().error()) return Fail("trailing content after the JSON object");
  if (!found) return Fail(fmt::format("missing `params`; {}", usage));
  return true;
}

void AppendScoreResult(std::string& out, float score, const Thresholds& t, std::string_view model) {
  out.append(t.Fault(score) ? "{\"fault\":1,\"score\":" : "{\"fault\":0,\"score\":");
  fmt::format_to(std::back_inserter(out), "{:.4f}", score);
  out.append(",\"level\":\"");
  out.append(LevelName(t.Classify(score)));
  out.append("\",\"model\":");
  AppendJsonString(out, model);
  out.push_back('}');
}

}  // namespace aiot::services
