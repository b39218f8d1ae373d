#pragma once

#include <simdjson.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "services/levels.h"

// The scoring API's wire format, sans I/O (shared by the HTTP handler and the fuzz target).
//   {"params":[rotation,temperature,vibration,sound]}       -> one result object
//   {"instances":[[...],[...]]}                               -> {"predictions":[...]}
namespace aiot::services {

struct ScoreRequestLimits {
  size_t max_body_bytes = 1 << 20;
  size_t max_instances = 10000;
};

// Parses score requests. Reuses its buffers: one per thread. Not thread-safe.
class ScoreRequestParser {
 public:
  explicit ScoreRequestParser(ScoreRequestLimits limits = {}) : limits_(limits) {}

  // Parses `body` for a model taking `width` inputs. On success `rows()` holds the instances
  // row-major and batch() says which form was used. On failure returns false and `error()` says
  // what is wrong, for a 400 answer.
  bool Parse(std::string_view body, size_t width);

  const std::vector<float>& rows() const { return rows_; }
  size_t row_count() const { return width_ ? rows_.size() / width_ : 0; }
  bool batch() const { return batch_; }
  const std::string& error() const { return error_; }

 private:
  bool ParseRow(simdjson::ondemand::value value, size_t index);
  bool Fail(std::string message);

  ScoreRequestLimits limits_;
  simdjson::ondemand::parser parser_;
  std::string padded_;
  std::vector<float> rows_;
  size_t width_ = 0;
  bool batch_ = false;
  std::string error_;
};

// {"fault":1,"score":0.9712,"level":"critical","model":"fan-mlp@3"}
void AppendScoreResult(std::string& out, float score, const Thresholds& t, std::string_view model);

}  // namespace aiot::services
