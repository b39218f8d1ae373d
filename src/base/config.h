#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// Typed configuration. Each module owns a plain struct with inline defaults and a free function
//
//   void Describe(aiot::config::Visitor& v, FooConfig& c) {
//     v.Field("listen", c.listen, "address:port to listen on");
//     v.Field("qos", c.qos, config::Range{0, 1}, "MQTT QoS");
//     v.Field("mode", c.mode, kModeNames, "off, normal or full");   // an enum, by name
//     aiot::config::Section(v, "tls", c.tls, "TLS settings");
//   }
//   // Optional: what the types cannot say (relations between keys, formats), run by the loader
//   // on the effective values.
//   void Validate(aiot::config::Checks& checks, const FooConfig& c) {
//     if (c.min > c.max) checks.Fail("min", "must not exceed max");
//   }
//
// both found by argument-dependent lookup. The same description drives YAML loading (unknown keys
// are rejected with the line number and the nearest valid key), environment overrides
// (AIOT_SECTION_KEY), `--set section.key=value`, and `aiot config defaults` (every key with its
// comment). The loader reports every problem, each as "key: what (file:line)". Errors are thrown
// as config::Error at start-up only; their message says what to change.
namespace aiot::config {

// One thing wrong with the configuration: the dotted key, what is wrong with it, and where its
// value came from ("aiot.yaml:12", "AIOT_STORE_SYNCHRONOUS", "--set"; empty for a default).
struct Problem {
  std::string key;
  std::string what;
  std::string where;
  // "key: what (where)".
  std::string ToString() const;
};

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  // what() is every problem, one per line.
  explicit Error(std::vector<Problem> problems);
  // The problems; empty when the error was built from a plain message.
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

// Collects the problems of one configuration. A section's Validate reports through Fail(), with
// keys relative to the section; the loader adds the section path and where the value came from.
class Checks {
 public:
  // `key` of the section being checked ("" = the section itself) is wrong: `what` says how.
  void Fail(std::string_view key, std::string what);
  bool ok() const { return problems_.empty(); }
  const std::vector<Problem>& problems() const { return problems_; }

  // For the loader.
  void Add(Problem p) { problems_.push_back(std::move(p)); }
  void SetOrigin(const std::string& path, std::string where) { origins_[path] = std::move(where); }
  // Where the value at `path` (or its nearest enclosing section) came from; "" for a default.
  std::string Origin(const std::string& path) const;
  void Enter(std::string_view section) { sections_.emplace_back(section); }
  void Leave() { sections_.pop_back(); }

 private:
  std::vector<std::string> sections_;
  std::map<std::string, std::string> origins_;
  std::vector<Problem> problems_;
};

// An enum value and its name in the configuration file, for the name tables of enum fields:
//   inline constexpr config::Named<Sync> kSyncNames[] = {{Sync::kOff, "off"}, {Sync::kFull,
//   "full"}};
template <typename E>
struct Named {
  E value;
  std::string_view name;
};

// The name of `value` in `names` ("" when it has none).
template <typename E, size_t N>
constexpr std::string_view NameOf(const Named<E> (&names)[N], E value) {
  for (const auto& n : names) {
    if (n.value == value) return n.name;
  }
  return {};
}

// The allowed values of an integer field, inclusive.
struct Range {
  int64_t min;
  int64_t max;
};

class SectionList;  // a list of sections, config_list.h

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

  // An integer that must lie in `range` (and in the type's range).
  template <typename I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) void Field(std::string_view key, I& v,
                                                                         Range range,
                                                                         std::string_view help) {
    int64_t wide = static_cast<int64_t>(v);
    auto [lo, hi] = Clamp<I>(range);
    Integer(key, wide, lo, hi, help);
    v = static_cast<I>(wide);
  }

  // A list of integers, each in `range` (by default the element type's range).
  template <typename I>
  requires(std::is_integral_v<I> &&
           !std::is_same_v<I, bool>) void Field(std::string_view key, std::vector<I>& v,
                                                Range range, std::string_view help) {
    std::vector<int64_t> wide(v.begin(), v.end());
    auto [lo, hi] = Clamp<I>(range);
    IntegerList(key, wide, lo, hi, help);
    v.assign(wide.begin(), wide.end());
  }
  template <typename I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) void Field(std::string_view key,
                                                                         std::vector<I>& v,
                                                                         std::string_view help) {
    Field(key, v, Range{INT64_MIN, INT64_MAX}, help);
  }

  // An enum, written in the file by its name in `names`; other names are refused with the list of
  // allowed ones.
  template <typename E, size_t N>
  requires std::is_enum_v<E>
  void Field(std::string_view key, E& v, const Named<E> (&names)[N], std::string_view help) {
    std::vector<std::string> allowed;
    for (const auto& n : names) allowed.emplace_back(n.name);
    std::string name(NameOf(names, v));
    Choice(key, name, allowed, help);
    for (const auto& n : names) {
      if (n.name == name) v = n.value;
    }
  }

  virtual void Integer(std::string_view key, int64_t& v, int64_t min, int64_t max,
                       std::string_view help) = 0;
  virtual void IntegerList(std::string_view key, std::vector<int64_t>& v, int64_t min, int64_t max,
                           std::string_view help) = 0;
  // `name` is one of `allowed`, before and after.
  virtual void Choice(std::string_view key, std::string& name,
                      const std::vector<std::string>& allowed, std::string_view help) = 0;
  virtual void BeginSection(std::string_view key, std::string_view help) = 0;
  virtual void EndSection() = 0;
  // A list of sections (a YAML sequence of maps); described with config::Sections of
  // config_list.h, which says what each visitor does with it.
  virtual void List(std::string_view key, SectionList& list, std::string_view help) = 0;
  // The current section's (or the root's) Validate; only the validating pass runs it.
  virtual void Check(const std::function<void(Checks&)>& validate) { (void)validate; }

 private:
  template <typename I>
  static std::pair<int64_t, int64_t> Clamp(Range r) {
    constexpr int64_t lo = static_cast<int64_t>(std::numeric_limits<I>::min());
    constexpr int64_t hi = std::numeric_limits<I>::max() > static_cast<uint64_t>(INT64_MAX)
                               ? INT64_MAX
                               : static_cast<int64_t>(std::numeric_limits<I>::max());
    return {std::max(lo, r.min), std::min(hi, r.max)};
  }
};

// Calls the Validate(Checks&, const T&) found by argument-dependent lookup, if there is one.
template <typename T>
void CheckWith(Visitor& v, T& cfg) {
  if constexpr (requires(Checks & c, const T& t) { Validate(c, t); }) {
    v.Check([&cfg](Checks& c) { Validate(c, static_cast<const T&>(cfg)); });
  }
}

// Describes a nested section `key` holding `sub`.
template <typename T>
void Section(Visitor& v, std::string_view key, T& sub, std::string_view help) {
  v.BeginSection(key, help);
  Describe(v, sub);
  CheckWith(v, sub);
  v.EndSection();
}

using Describer = std::function<void(Visitor&)>;

// Where the effective configuration comes from, in order of precedence (last wins).
struct Sources {
  std::string file;               // YAML file; empty = none
  std::vector<std::string> env;   // name=value strings (e.g. environ); AIOT_* ones apply
  std::vector<std::string> sets;  // `--set` assignments, path=value
};

struct LoadReport {
  // Every problem: bad values, unknown keys, failed Validate checks. Empty = the configuration is
  // good to use.
  std::vector<Problem> problems;
  // AIOT_ variables that match no key and are not reserved, so callers can warn.
  std::vector<std::string> unknown_env;
};

// Applies the file, the environment and the assignments, then runs every section's Validate on
// the result. Does not stop at the first problem.
LoadReport Load(const Sources& sources, const Describer& describe);

// Runs every section's Validate on the configuration as it is.
std::vector<Problem> RunChecks(const Describer& describe);

// Applies a YAML document to the configuration described by `describe` and validates the result.
// `source` names the document in error messages (a file path, or "<string>"). Throws Error with
// every problem.
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
  return [&cfg](Visitor& v) {
    Describe(v, cfg);
    CheckWith(v, cfg);
  };
}

}  // namespace aiot::config
