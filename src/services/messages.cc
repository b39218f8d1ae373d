#include "services/messages.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>

namespace aiot::services {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    len = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return len;
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = Utf8Length(s, i);
      if (len == 0) {
        out.append("\\ufffd");
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

namespace {

void AppendScore(std::string& out, float score) {
  // Four decimals are plenty for a probability and keep payloads short. Scores in [0, 1] (all of
  // them, in practice) take the fast path, once per result: float * 10^4 is exact in a double, so
  // nearbyint (ties to even) rounds exactly as "{:.4f}" does.
  if (!std::signbit(score) && score <= 1.0f) {
    const auto v = static_cast<uint32_t>(std::nearbyint(static_cast<double>(score) * 10000.0));
    char buf[6] = {static_cast<char>('0' + v / 10000),     '.',
                   static_cast<char>('0' + v / 1000 % 10), static_cast<char>('0' + v / 100 % 10),
                   static_cast<char>('0' + v / 10 % 10),   static_cast<char>('0' + v % 10)};
    out.append(buf, sizeof buf);
    return;
  }
  fmt::format_to(std::back_inserter(out), "{:.4f}", score);
}

}  // namespace

void AppendAnomaly(std::string& out, std::string_view device_id, std::string_view timestamp,
                   int fault, float score, Level level, std::string_view model, float ttf_h,
                   std::string_view ttf_model) {
  out.append("{\"deviceID\":");
  AppendJsonString(out, device_id);
  out.append(",\"timeStamp\":");
  AppendJsonString(out, timestamp);
  out.append(fault ? ",\"fault\":1,\"score\":" : ",\"fault\":0,\"score\":");
  AppendScore(out, score);
  out.append(",\"level\":\"");
  out.append(LevelName(level));
  out.append("\",\"model\":");
  AppendJsonString(out, model);
  if (std::isfinite(ttf_h)) {
    fmt::format_to(std::back_inserter(out),
                   ",\"time_to_failure_h\":{:.2f},\"ttf_model\":", std::max(0.0f, ttf_h));
    AppendJsonString(out, ttf_model);
  }
  out.push_back('}');
}

std::string_view AlertMessage(Level level) {
  switch (level) {
    case Level::kCritical:
      return "activate safety protocols";
    case Level::kWarning:
      return "potential conditions for an imminent failure";
    case Level::kOk:
      return "condition cleared";
  }
  return "";
}

void AppendAlert(std::string& out, std::string_view device_id, std::string_view timestamp,
                 Level level, Level previous, float score, std::string_view model) {
  out.append("{\"deviceID\":");
  AppendJsonString(out, device_id);
  out.append(",\"timeStamp\":");
  AppendJsonString(out, timestamp);
  out.append(",\"level\":\"");
  out.append(LevelName(level));
  out.append("\",\"previous\":\"");
  out.append(LevelName(previous));
  out.append("\",\"score\":");
  AppendScore(out, score);
  out.append(",\"model\":");
  AppendJsonString(out, model);
  out.append(",\"message\":");
  AppendJsonString(out, AlertMessage(level));
  out.push_back('}');
}

void AppendCommand(std::string& out, std::string_view command, std::string_view payload_json) {
  out.append("{\"command\":");
  AppendJsonString(out, command);
  out.append(",\"payload\":");
  out.append(payload_json.empty() ? std::string_view("{}") : payload_json);
  out.push_back('}');
}

void AppendDeadLetter(std::string& out, std::string_view topic, std::string_view reason,
                      std::string_view payload, size_t max_chars) {
  const bool truncated = payload.size() > max_chars;
  out.append("{\"topic\":");
  AppendJsonString(out, topic);
  out.append(",\"reason\":");
  AppendJsonString(out, reason);
  out.append(",\"payload\":");
  AppendJsonString(out, truncated ? payload.substr(0, max_chars) : payload);
  out.append(truncated ? ",\"truncated\":true}" : ",\"truncated\":false}");
}

}  // namespace aiot::services
