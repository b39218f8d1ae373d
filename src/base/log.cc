#include "base/log.h"

#include <spdlog/details/os.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <chrono>

#include <mutex>
#include "base/clock.h"

namespace aiot::log {
namespace {

// JSON lines: {"ts":"2026-11-22T10:00:00.123Z","level":"info","module":"http","msg":"..."}
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string ts = FormatTimestamp(
        std::chrono::duration_cast<std::chrono::nanoseconds>(msg.time.time_since_epoch()).count());
    Append(dest, "{\"ts\":\"");
    Append(dest, ts);
    Append(dest, "\",\"level\":\"");
    auto lv = spdlog::level::to_string_view(msg.level);
    dest.append(lv.data(), lv.data() + lv.size());
    Append(dest, "\",\"module\":\"");
    Escape(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    Append(dest, "\",\"msg\":\"");
    Escape(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    Append(dest, "\"}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }

 private:
  static void Append(spdlog::memory_buf_t& d, std::string_view s) {
    d.append(s.data(), s.data() + s.size());
  }
  static void Escape(spdlog::memory_buf_t& d, std::string_view s) {
    for (char c : s) {
      switch (c) {
        case '"':
          Append(d, "\\\"");
          break;
        case '\\':
          Append(d, "\\\\");
          break;
        case '\n':
          Append(d, "\\n");
          break;
        case '\r':
          Append(d, "\\r");
          break;
        case '\t':
          Append(d, "\\t");
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            Append(d, buf);
          } else {
            d.push_back(c);
          }
      }
    }
  }
};

struct State {
  std::mutex mu;
  LogConfig config;
  spdlog::sink_ptr sink;
};

State& GetState() {
  static State* s = new State();  // never destroyed: loggers may log during static destruction
  return *s;
}

spdlog::level::level_enum ParseLevel(const std::string& name, const std::string& where) {
  auto lv = spdlog::level::from_str(name);
  if (lv == spdlog::level::off && name != "off") {
    throw config::Error("`" + where + "`: unknown log level `" + name +
                        "`; use trace, debug, info, warn, error, critical or off");
  }
  return lv;
}

spdlog::level::level_enum LevelFor(const LogConfig& c, std::string_view module) {
  size_t best = 0;
  std::string level = c.level;
  for (const auto& [prefix, lv] : c.modules) {
    bool match = module == prefix ||
                 (module.size() > prefix.size() && module.substr(0, prefix.size()) == prefix &&
                  module[prefix.size()] == '.');
    if (match && prefix.size() >= best) {
      best = prefix.size();
      level = lv;
    }
  }
  return spdlog::level::from_str(level);
}

void Configure(State& s, spdlog::logger& logger) {
  logger.sinks().clear();
  logger.sinks().push_back(s.sink);
  logger.set_level(LevelFor(s.config, logger.name()));
}

}  // namespace

void Describe(config::Visitor& v, LogConfig& c) {
  v.Field("level", c.level, "Default level: trace, debug, info, warn, error, critical, off.");
  v.Field("format", c.format,
          "text (human-readable), json (one JSON object per line) or auto (text on a terminal).");
  v.Field("modules", c.modules, "Per-module levels, e.g. {mqtt: debug, http: warn}.");
}

void Init(const LogConfig& c) {
  ParseLevel(c.level, "log.level");
  for (const auto& [m, lv] : c.modules) ParseLevel(lv, "log.modules." + m);
  if (c.format != "text" && c.format != "json" && c.format != "auto") {
    throw config::Error("`log.format`: unknown format `" + c.format + "`; use text, json or auto");
  }
  State& s = GetState();
  std::lock_guard lock(s.mu);
  s.config = c;
  bool json = c.format == "json" || (c.format == "auto" && !isatty(STDERR_FILENO));
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
      json ? spdlog::color_mode::never : spdlog::color_mode::automatic);
  if (json) {
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    sink->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %-10n %v");
  }
  s.sink = sink;
  spdlog::apply_all([&](std::shared_ptr<spdlog::logger> l) { Configure(s, *l); });
}

bool RateLimiter::Allow(int64_t now_ns, uint64_t* suppressed) {
  std::lock_guard lock(mu_);
  if (!started_ || now_ns - window_start_ >= interval_ns_ || now_ns < window_start_) {
    started_ = true;
    window_start_ = now_ns;
    in_window_ = 0;
  }
  if (in_window_ >= burst_) {
    ++suppressed_;
    return false;
  }
  ++in_window_;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

std::shared_ptr<spdlog::logger> Get(std::string_view module) {
  State& s = GetState();
  std::lock_guard lock(s.mu);
  std::string name(module);
  if (auto l = spdlog::get(name)) return l;
  if (!s.sink) {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sink->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %-10n %v");
    s.sink = sink;
  }
  auto l = std::make_shared<spdlog::logger>(name, s.sink);
  l->set_level(LevelFor(s.config, name));
  l->flush_on(spdlog::level::warn);
  spdlog::register_logger(l);
  return l;
}

}  // namespace aiot::log
