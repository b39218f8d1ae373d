#include "base/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace aiot::config {
namespace {

std::string Join(const std::vector<std::string>& parts, std::string_view key) {
  std::string out;
  for (const auto& p : parts) {
    out += p;
    out += '.';
  }
  out += key;
  return out;
}

std::string Line(std::string_view source, const YAML::Node& node) {
  std::ostringstream os;
  os << source;
  if (node.Mark().line >= 0) os << ":" << node.Mark().line + 1;
  return os.str();
}

// Reads one YAML value into typed fields; used by the loader and by Set().
class ValueReader {
 public:
  ValueReader(std::string_view source, std::string path)
      : source_(source), path_(std::move(path)) {}

  void Read(const YAML::Node& n, bool& v) {
    std::string s = Scalar(n, "a boolean (true/false)");
    std::string l = s;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    if (l == "true" || l == "yes" || l == "on" || l == "1") {
      v = true;
    } else if (l == "false" || l == "no" || l == "off" || l == "0") {
      v = false;
    } else {
      Fail(n, "must be a boolean (true/false), got `" + s + "`");
    }
  }
  void Read(const YAML::Node& n, double& v) {
    std::string s = Scalar(n, "a number");
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d)) {
      Fail(n, "must be a number, got `" + s + "`");
    }
    v = d;
  }
  void Read(const YAML::Node& n, int64_t& v, int64_t lo, int64_t hi) {
    std::string s = Scalar(n, "an integer");
    // Accept human suffixes for sizes: 64KiB, 16MiB, 1GiB, and plain k/M/G multiples of 1000.
    int64_t mult = 1;
    std::string digits = s;
    static const std::pair<const char*, int64_t> kSuffixes[] = {
        {"KiB", 1024}, {"MiB", 1024 * 1024}, {"GiB", 1024LL * 1024 * 1024},
        {"k", 1000},   {"M", 1000000},       {"G", 1000000000}};
    for (const auto& [suffix, m] : kSuffixes) {
      std::string_view sv(s);
      std::string_view suf(suffix);
      if (sv.size() > suf.size() && sv.substr(sv.size() - suf.size()) == suf) {
        digits = s.substr(0, s.size() - suf.size());
        mult = m;
        break;
      }
    }
    errno = 0;
    char* end = nullptr;
    long long x = std::strtoll(digits.c_str(), &end, 10);
    if (digits.empty() || end != digits.c_str() + digits.size() || errno == ERANGE) {
      Fail(n, "must be an integer, got `" + s + "`");
    }
    if (__builtin_mul_overflow(x, mult, &x) || x < lo || x > hi) {
      Fail(n, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got `" +
                  s + "`");
    }
    v = x;
  }
  void Read(const YAML::Node& n, std::string& v) { v = Scalar(n, "a string"); }
  void Read(const YAML::Node& n, std::vector<std::string>& v) {
    if (n.IsNull()) {
      v.clear();
      return;
    }
    if (n.IsScalar()) {  // a single value, or a comma-separated list from the environment
      v.clear();
      std::string s = n.as<std::string>();
      std::stringstream ss(s);
      std::string item;
      while (std::getline(ss, item, ',')) {
        if (!item.empty()) v.push_back(item);
      }
      return;
    }
    if (!n.IsSequence()) Fail(n, "must be a list");
    v.clear();
    for (const auto& item : n) v.push_back(Scalar(item, "a string"));
  }
  void Read(const YAML::Node& n, std::map<std::string, std::string>& v) {
    if (n.IsNull()) {
      v.clear();
      return;
    }
    if (n.IsScalar()) {  // "a=1,b=2" from the environment or --set
      v.clear();
      std::stringstream ss(n.as<std::string>());
      std::string item;
      while (std::getline(ss, item, ',')) {
        auto eq = item.find('=');
        if (eq == std::string::npos) Fail(n, "must be a map or `key=value,key=value`");
        v[item.substr(0, eq)] = item.substr(eq + 1);
      }
      return;
    }
    if (!n.IsMap()) Fail(n, "must be a map");
    v.clear();
    for (const auto& kv : n) v[kv.first.as<std::string>()] = Scalar(kv.second, "a string");
  }

  [[noreturn]] void Fail(const YAML::Node& n, const std::string& what) {
    throw Error(Line(source_, n) + ": `" + path_ + "` " + what);
  }

 private:
  std::string Scalar(const YAML::Node& n, const char* what) {
    if (n.IsNull()) return "";
    if (!n.IsScalar()) Fail(n, std::string("must be ") + what);
    return n.as<std::string>();
  }

  std::string_view source_;
  std::string path_;
};

class YamlLoader final : public Visitor {
 public:
  YamlLoader(std::string_view source, const YAML::Node& root) : source_(source) {
    frames_.push_back({root, {}});
  }

  void Field(std::string_view key, bool& v, std::string_view) override { Apply(key, v); }
  void Field(std::string_view key, double& v, std::string_view) override { Apply(key, v); }
  void Field(std::string_view key, std::string& v, std::string_view) override { Apply(key, v); }
  void Field(std::string_view key, std::vector<std::string>& v, std::string_view) override {
    Apply(key, v);
  }
  void Field(std::string_view key, std::map<std::string, std::string>& v,
             std::string_view) override {
    Apply(key, v);
  }
  void Integer(std::string_view key, int64_t& v, int64_t lo, int64_t hi,
               std::string_view) override {
    if (auto n = Lookup(key)) ValueReader(source_, Path(key)).Read(n, v, lo, hi);
  }
  void BeginSection(std::string_view key, std::string_view) override {
    YAML::Node n = Lookup(key);
    if (n && !n.IsNull() && !n.IsMap()) {
      throw Error(Line(source_, n) + ": `" + Path(key) + "` must be a section (a map of keys)");
    }
    path_.emplace_back(key);
    frames_.push_back({n && n.IsMap() ? n : YAML::Node(), {}});
  }
  void EndSection() override {
    CheckUnknown();
    frames_.pop_back();
    path_.pop_back();
  }

  void Finish() {
    const YAML::Node& root = frames_.back().node;
    if (root && !root.IsNull() && !root.IsMap()) {
      throw Error(Line(source_, root) + ": the configuration must be a map of sections");
    }
    CheckUnknown();
  }

 private:
  struct Frame {
    YAML::Node node;
    std::vector<std::string> known;
  };

  template <typename T>
  void Apply(std::string_view key, T& v) {
    if (auto n = Lookup(key)) ValueReader(source_, Path(key)).Read(n, v);
  }

  YAML::Node Lookup(std::string_view key) {
    Frame& f = frames_.back();
    f.known.emplace_back(key);
    if (!f.node || !f.node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    for (const auto& kv : f.node) {
      if (kv.first.Scalar() == key) return kv.second;
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }

  void CheckUnknown() {
    Frame& f = frames_.back();
    if (!f.node || !f.node.IsMap()) return;
    for (const auto& kv : f.node) {
      const std::string& k = kv.first.Scalar();
      if (std::find(f.known.begin(), f.known.end(), k) != f.known.end()) continue;
      std::string msg = Line(source_, kv.first) + ": unknown key `" + Path(k) + "`";
      std::string near = NearestMatch(k, f.known);
      if (!near.empty()) msg += "; did you mean `" + near + "`?";
      throw Error(msg);
    }
  }

  std::string Path(std::string_view key) const { return Join(path_, key); }

  std::string_view source_;
  std::vector<std::string> path_;
  std::vector<Frame> frames_;
};

// Walks the description and applies one value at one dotted path.
class PathSetter final : public Visitor {
 public:
  PathSetter(std::string_view path, std::string_view raw, const YAML::Node& value)
      : target_(path), raw_(raw), value_(value) {}

  void Field(std::string_view key, bool& v, std::string_view) override { Apply(key, v); }
  void Field(std::string_view key, double& v, std::string_view) override { Apply(key, v); }
  void Field(std::string_view key, std::string& v, std::string_view) override {
    // A string takes the text as given when it is not a YAML scalar, so that
    // `--set predictor.actuation.payload={"load":0.3}` sets JSON text rather than failing.
    if (!Matches(key)) return;
    if (value_.IsScalar() || value_.IsNull()) {
      ValueReader("override", target_).Read(value_, v);
    } else {
      v = raw_;
    }
  }
  void Field(std::string_view key, std::vector<std::string>& v, std::string_view) override {
    Apply(key, v);
  }
  void Field(std::string_view key, std::map<std::string, std::string>& v,
             std::string_view) override {
    Apply(key, v);
  }
  void Integer(std::string_view key, int64_t& v, int64_t lo, int64_t hi,
               std::string_view) override {
    if (Matches(key)) ValueReader("override", target_).Read(value_, v, lo, hi);
  }
  void BeginSection(std::string_view key, std::string_view) override { path_.emplace_back(key); }
  void EndSection() override { path_.pop_back(); }

  bool found() const { return found_; }

 private:
  template <typename T>
  void Apply(std::string_view key, T& v) {
    if (Matches(key)) ValueReader("override", target_).Read(value_, v);
  }
  bool Matches(std::string_view key) {
    if (Join(path_, key) != target_) return false;
    found_ = true;
    return true;
  }

  std::string target_;
  std::string raw_;
  YAML::Node value_;
  std::vector<std::string> path_;
  bool found_ = false;
};

class PathCollector final : public Visitor {
 public:
  void Field(std::string_view key, bool&, std::string_view) override { Add(key); }
  void Field(std::string_view key, double&, std::string_view) override { Add(key); }
  void Field(std::string_view key, std::string&, std::string_view) override { Add(key); }
  void Field(std::string_view key, std::vector<std::string>&, std::string_view) override {
    Add(key);
  }
  void Field(std::string_view key, std::map<std::string, std::string>&, std::string_view) override {
    Add(key);
  }
  void Integer(std::string_view key, int64_t&, int64_t, int64_t, std::string_view) override {
    Add(key);
  }
  void BeginSection(std::string_view key, std::string_view) override { path_.emplace_back(key); }
  void EndSection() override { path_.pop_back(); }

  std::vector<std::string> paths;

 private:
  void Add(std::string_view key) { paths.push_back(Join(path_, key)); }
  std::vector<std::string> path_;
};

std::string Quote(const std::string& s) {
  bool plain = !s.empty() && s.find_first_of(":#{}[],&*?|<>=!%@`'\"\\ \t") == std::string::npos;
  static const char* kSpecial[] = {"true", "false", "yes", "no", "on", "off", "null", "~"};
  for (const char* w : kSpecial) {
    if (s == w) plain = false;
  }
  if (plain && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '.')) {
    plain = false;
  }
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) plain = false;
  }
  if (plain) return s;
  // Double-quoted YAML: control characters escaped, or a newline would read back as a space.
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string FormatDouble(double d) {
  std::ostringstream os;
  os.precision(17);
  os << d;
  std::string s = os.str();
  // Prefer the shortest text that reads back to the same value.
  for (int p = 1; p < 17; ++p) {
    std::ostringstream t;
    t.precision(p);
    t << d;
    if (std::strtod(t.str().c_str(), nullptr) == d) return t.str();
  }
  return s;
}

class YamlPrinter final : public Visitor {
 public:
  void Field(std::string_view key, bool& v, std::string_view help) override {
    Emit(key, help, v ? "true" : "false");
  }
  void Field(std::string_view key, double& v, std::string_view help) override {
    Emit(key, help, FormatDouble(v));
  }
  void Field(std::string_view key, std::string& v, std::string_view help) override {
    Emit(key, help, Quote(v));
  }
  void Field(std::string_view key, std::vector<std::string>& v, std::string_view help) override {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + Quote(v[i]);
    Emit(key, help, s + "]");
  }
  void Field(std::string_view key, std::map<std::string, std::string>& v,
             std::string_view help) override {
    std::string s = "{";
    bool first = true;
    for (const auto& [k, val] : v) {
      s += (first ? "" : ", ") + Quote(k) + ": " + Quote(val);
      first = false;
    }
    Emit(key, help, s + "}");
  }
  void Integer(std::string_view key, int64_t& v, int64_t, int64_t, std::string_view help) override {
    Emit(key, help, std::to_string(v));
  }
  void BeginSection(std::string_view key, std::string_view help) override {
    if (depth_ == 0 && !out_.str().empty()) out_ << "\n";
    Comment(help);
    out_ << Indent() << key << ":\n";
    ++depth_;
  }
  void EndSection() override { --depth_; }

  std::string str() const { return out_.str(); }

 private:
  std::string Indent() const { return std::string(depth_ * 2, ' '); }
  void Comment(std::string_view help) {
    if (help.empty()) return;
    std::string_view rest = help;
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      out_ << Indent() << "# " << rest.substr(0, nl) << "\n";
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
  }
  void Emit(std::string_view key, std::string_view help, const std::string& value) {
    Comment(help);
    out_ << Indent() << key << ": " << value << "\n";
  }

  std::ostringstream out_;
  int depth_ = 0;
};

YAML::Node ParseValue(std::string_view value) {
  try {
    YAML::Node n = YAML::Load(std::string(value));
    // An empty string stays an empty string rather than null for string fields.
    if (!n || n.IsNull()) return YAML::Node(std::string(value));
    return n;
  } catch (const YAML::Exception&) {
    return YAML::Node(std::string(value));  // not YAML: take the text as it is
  }
}

}  // namespace

void LoadYaml(std::string_view text, std::string_view source, const Describer& describe) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw Error(std::string(source) + ":" + std::to_string(e.mark.line + 1) +
                ": not valid YAML: " + e.msg);
  }
  YamlLoader loader(source, root);
  describe(loader);
  loader.Finish();
}

void LoadYamlFile(const std::string& path, const Describer& describe) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read config file `" + path + "`: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  LoadYaml(ss.str(), path, describe);
}

void Set(std::string_view path, std::string_view value, const Describer& describe) {
  PathSetter setter(path, value, ParseValue(value));
  describe(setter);
  if (!setter.found()) {
    std::string msg = "unknown key `" + std::string(path) + "`";
    std::string near = NearestMatch(path, Paths(describe));
    if (!near.empty()) msg += "; did you mean `" + near + "`?";
    throw Error(msg);
  }
}

void ApplyAssignments(const std::vector<std::string>& assignments, const Describer& describe) {
  for (const auto& a : assignments) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Error("`--set " + a + "`: expected section.key=value");
    }
    Set(std::string_view(a).substr(0, eq), std::string_view(a).substr(eq + 1), describe);
  }
}

std::string EnvName(std::string_view path) {
  std::string out = "AIOT_";
  for (char c : path) {
    out += (c == '.' || c == '-') ? '_'
                                  : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::vector<std::string> ApplyEnvironment(const std::vector<std::string>& env,
                                          const Describer& describe) {
  // Variables that configure the process but are not config keys.
  // (AIOT_REQUIRE_PEERS, AIOT_SKIP_FUZZ and AIOT_BUILD_DIR are the test and build scripts'.)
  static const char* kReserved[] = {"AIOT_CONFIG",     "AIOT_SOURCE_DIR", "AIOT_BINARY_DIR",
                                    "AIOT_SHARED_DIR", "AIOT_DATA_DIR",   "AIOT_URL",
                                    "AIOT_TOKEN",      "AIOT_TOKEN_FILE", "AIOT_REQUIRE_PEERS",
                                    "AIOT_SKIP_FUZZ",  "AIOT_BUILD_DIR"};
  std::map<std::string, std::string> by_env;
  for (const auto& p : Paths(describe)) by_env[EnvName(p)] = p;
  std::vector<std::string> unknown;
  for (const auto& kv : env) {
    if (kv.rfind("AIOT_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = kv.substr(0, eq);
    auto it = by_env.find(name);
    if (it == by_env.end()) {
      if (std::find(std::begin(kReserved), std::end(kReserved), name) == std::end(kReserved)) {
        unknown.push_back(name);
      }
      continue;
    }
    try {
      Set(it->second, std::string_view(kv).substr(eq + 1), describe);
    } catch (const Error& e) {
      throw Error("environment variable " + name + ": " + e.what());
    }
  }
  return unknown;
}

std::vector<std::string> Paths(const Describer& describe) {
  PathCollector c;
  describe(c);
  return std::move(c.paths);
}

std::string ToYaml(const Describer& describe) {
  YamlPrinter p;
  describe(p);
  return p.str();
}

std::string NearestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t d = distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // Close enough to be a typo: at most a third of the word, and at least 2 edits allowed.
  size_t limit = std::max<size_t>(2, word.size() / 3);
  return best_d <= limit ? best : "";
}

}  // namespace aiot::config
