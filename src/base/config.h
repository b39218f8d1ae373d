#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

// Typed configuration. Each module owns a plain struct with inline defaults and a free function
//
//   void Describe(aiot::config::Visitor& v, FooConfig& c) {
//     v.Field("listen", c.listen, "address:port to listen on");
//     aiot::config::Section(v, "tls", c.tls, "TLS settings");
//   }
//
// found by argument-dependent lookup. The same description drives YAML loading (unknown keys are
// rejected with the line number and the nearest valid key), environment overrides
// (AIOT_SECTION_KEY), `--set section.key=value`, and `aiot config defaults` (every key with its
// comment). Errors are thrown as config::Error at start-up only; their message says what to change.
namespace aiot::config {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Visitor {
 public:
  virtual ~Visitor() = default;

  virtual void Field(std::string_view key, bool& v, std::string_view help) = 0;
  virtual void Field(std::string_view key, double& v, std::string_view help) = 0;
  virtual void Field(std::string_view key, std::string& v, std::string_view help) = 0;
  virtual void Field(std::string_view key, std::vector<std::string>& v, std::string_view help) = 0;
  virtual void Field(std::string_view key, std::map<std::string, std::string>& v,
                     std::string_view help) = 0;

  // Any integer type; the loader rejects values outside the type's range.
  template <typename I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) void Field(std::string_view key, I& v,
                                                                         std::string_view help) {
    int64_t wide = static_cast<int64_t>(v);
    constexpr int64_t lo = static_cast<int64_t>(std::numeric_limits<I>::min());
    constexpr int64_t hi = std::numeric_limits<I>::max() > static_cast<uint64_t>(INT64_MAX)
                               ? INT64_MAX
                               : static_cast<int64_t>(std::numeric_limits<I>::max());
    Integer(key, wide, lo, hi, help);
    v = static_cast<I>(wide);
  }

  void Field(std::string_view key, float& v, std::string_view help) {
    double wide = v;
    Field(key, wide, help);
    v = static_cast<float>(wide);
  }

  virtual void Integer(std::string_view key, int64_t& v, int64_t min, int64_t max,
                       std::string_view help) = 0;
  virtual void BeginSection(std::string_view key, std::string_view help) = 0;
  virtual void EndSection() = 0;
};

// Describes a nested section `key` holding `sub`.
template <typename T>
void Section(Visitor& v, std::string_view key, T& sub, std::string_view help) {
  v.BeginSection(key, help);
  Describe(v, sub);
  v.EndSection();
}

using Describer = std::function<void(Visitor&)>;

// Applies a YAML document to the configuration described by `describe`. `source` names the
// document in error messages (a file path, or "<string>").
void LoadYaml(std::string_view text, std::string_view source, const Describer& describe);
void LoadYamlFile(const std::string& path, const Describer& describe);

// Sets one key by dotted path ("http.listen") from its text form. The text is read as a YAML
// scalar or flow sequence/map, so `--set mqtt.topics=[a,b]` works.
void Set(std::string_view path, std::string_view value, const Describer& describe);

// Applies `--set` style "path=value" assignments in order.
void ApplyAssignments(const std::vector<std::string>& assignments, const Describer& describe);

// Applies AIOT_SECTION_KEY variables from `env` (name=value strings, e.g. environ). Returns the
// names of AIOT_ variables that match no key and are not reserved, so callers can warn.
std::vector<std::string> ApplyEnvironment(const std::vector<std::string>& env,
                                          const Describer& describe);

// The environment variable name for a dotted path: "mqtt.max_connections" ->
// "AIOT_MQTT_MAX_CONNECTIONS".
std::string EnvName(std::string_view path);

// Every leaf key as a dotted path, in description order.
std::vector<std::string> Paths(const Describer& describe);

// The whole configuration as commented YAML (the current values, so on a default-constructed
// struct this prints the defaults).
std::string ToYaml(const Describer& describe);

// The candidate closest to `word` by edit distance, or "" when nothing is reasonably close.
std::string NearestMatch(std::string_view word, const std::vector<std::string>& candidates);

// Convenience wrappers for a whole config struct.
template <typename T>
Describer DescriberFor(T& cfg) {
  return [&cfg](Visitor& v) { Describe(v, cfg); };
}

}  // namespace aiot::config
