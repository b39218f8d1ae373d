#include "base/config.h"

#include "base/config_list.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
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

// The key of item `i` of list `key`: "bridges[0]".
std::string ItemKey(std::string_view key, size_t i) {
  return std::string(key) + "[" + std::to_string(i) + "]";
}

std::string Line(std::string_view source, const YAML::Node& node) {
  std::ostringstream os;
  os << source;
  if (node.Mark().line >= 0) os << ":" << node.Mark().line + 1;
  return os.str();
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// Parses an integer with an optional size suffix (64KiB, 16MiB, 1GiB; k, M, G multiples of
// 1000). Returns what is wrong, or "" when `out` holds the value.
std::string ParseInteger(const std::string& s, int64_t lo, int64_t hi, int64_t& out) {
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
    return "must be an integer, got `" + s + "`";
  }
  if (__builtin_mul_overflow(x, mult, &x) || x < lo || x > hi) {
    return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got `" + s +
           "`";
  }
  out = x;
  return "";
}

// Reads one YAML value into typed fields; used by the loader and by Set(). Failures throw Error
// with one Problem: the key, what is wrong, and `source` with the value's line (or `source` alone
// for an override, which has no lines).
class ValueReader {
 public:
  ValueReader(std::string_view source, std::string path, bool lines = true)
      : source_(source), path_(std::move(path)), lines_(lines) {}

  void Read(const YAML::Node& n, bool& v) {
    std::string s = Scalar(n, "a boolean (true/false)");
    std::string l = Lower(s);
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
    if (std::string what = ParseInteger(s, lo, hi, v); !what.empty()) Fail(n, what);
  }
  void Read(const YAML::Node& n, std::vector<int64_t>& v, int64_t lo, int64_t hi) {
    std::vector<std::pair<std::string, YAML::Node>> items;  // text, node (for its line)
    if (n.IsScalar()) {  // "60,30,10" from the environment or --set
      std::stringstream ss(n.as<std::string>());
      std::string item;
      while (std::getline(ss, item, ',')) {
        if (!Trim(item).empty()) items.emplace_back(Trim(item), n);
      }
    } else if (n.IsSequence()) {
      for (const auto& item : n) items.emplace_back(Scalar(item, "a list of integers"), item);
    } else if (!n.IsNull()) {
      Fail(n, "must be a list of integers");
    }
    std::vector<int64_t> out(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      std::string what = ParseInteger(items[i].first, lo, hi, out[i]);
      if (!what.empty()) Fail(items[i].second, "item " + std::to_string(i + 1) + " " + what);
    }
    v = std::move(out);
  }
  void ReadChoice(const YAML::Node& n, std::string& v, const std::vector<std::string>& allowed) {
    std::string s = Scalar(n, "a name");
    for (const auto& a : allowed) {
      if (Lower(a) == Lower(s)) {
        v = a;
        return;
      }
    }
    std::string list;
    for (size_t i = 0; i < allowed.size(); ++i) {
      list += (i == 0 ? "" : i + 1 == allowed.size() ? " or " : ", ") + allowed[i];
    }
    Fail(n, "must be " + list + ", got `" + s + "`");
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
      std::map<std::string, std::string> out;
      std::stringstream ss(n.as<std::string>());
      std::string item;
      while (std::getline(ss, item, ',')) {
        auto eq = item.find('=');
        if (eq == std::string::npos) Fail(n, "must be a map or `key=value,key=value`");
        out[item.substr(0, eq)] = item.substr(eq + 1);
      }
      v = std::move(out);
      return;
    }
    if (!n.IsMap()) Fail(n, "must be a map");
    std::map<std::string, std::string> out;
    for (const auto& kv : n) {
      out[Scalar(kv.first, "a map with string keys")] = Scalar(kv.second, "a string");
    }
    v = std::move(out);
  }

  [[noreturn]] void Fail(const YAML::Node& n, const std::string& what) {
    throw Error({Problem{path_, what, lines_ ? Line(source_, n) : std::string(source_)}});
  }

 private:
  std::string Scalar(const YAML::Node& n, const char* what) {
    if (n.IsNull()) return "";
    if (!n.IsScalar()) Fail(n, std::string("must be ") + what);
    return n.as<std::string>();
  }

  std::string_view source_;
  std::string path_;
  bool lines_;
};

// Applies a YAML document. Every problem is recorded in `checks` and loading goes on, so one run
// reports them all; where each key was found is recorded as its origin.
class YamlLoader final : public Visitor {
 public:
  // `lines`: problems name `source` with the line (a file), or `source` alone (an override).
  YamlLoader(std::string_view source, const YAML::Node& root, Checks& checks, bool lines = true)
      : source_(source), checks_(checks), lines_(lines) {
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
    Apply(key, [&](ValueReader& r, const YAML::Node& n) { r.Read(n, v, lo, hi); });
  }
  void IntegerList(std::string_view key, std::vector<int64_t>& v, int64_t lo, int64_t hi,
                   std::string_view) override {
    Apply(key, [&](ValueReader& r, const YAML::Node& n) { r.Read(n, v, lo, hi); });
  }
  void Choice(std::string_view key, std::string& v, const std::vector<std::string>& allowed,
              std::string_view) override {
    Apply(key, [&](ValueReader& r, const YAML::Node& n) { r.ReadChoice(n, v, allowed); });
  }
  void BeginSection(std::string_view key, std::string_view) override {
    YAML::Node n = Lookup(key);
    if (n) checks_.SetOrigin(Path(key), Where(n));
    if (n && !n.IsNull() && !n.IsMap()) {
      checks_.Add({Path(key), "must be a section (a map of keys)", Where(n)});
    }
    Enter(std::string(key), n && n.IsMap() ? n : YAML::Node());
  }
  void EndSection() override { Leave(); }

  // A list in the document replaces the list (null empties it); each item is read as a section.
  void List(std::string_view key, SectionList& list, std::string_view) override {
    YAML::Node n = Lookup(key);
    if (!n) return;
    checks_.SetOrigin(Path(key), Where(n));
    if (n.IsNull()) {
      list.Resize(0);
      return;
    }
    if (!n.IsSequence()) {
      checks_.Add({Path(key), "must be a list of sections (`- key: value` items)", Where(n)});
      return;
    }
    list.Resize(0);
    list.Resize(n.size());
    size_t i = 0;
    for (const auto& item : n) {
      const std::string name = ItemKey(key, i);
      checks_.SetOrigin(Path(name), Where(item));
      if (!item.IsNull() && !item.IsMap()) {
        checks_.Add({Path(name), "must be a section (a map of keys)", Where(item)});
      }
      Enter(name, item.IsMap() ? static_cast<const YAML::Node&>(item) : YAML::Node());
      list.Item(*this, i);
      Leave();
      ++i;
    }
  }

  void Finish() {
    const YAML::Node& root = frames_.back().node;
    if (root && !root.IsNull() && !root.IsMap()) {
      checks_.Add({"", "the configuration must be a map of sections", Where(root)});
      return;
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
    Apply(key, [&v](ValueReader& r, const YAML::Node& n) { r.Read(n, v); });
  }
  template <typename Fn>
  requires std::is_invocable_v<Fn, ValueReader&, const YAML::Node&>
  void Apply(std::string_view key, Fn&& read) {
    YAML::Node n = Lookup(key);
    if (!n) return;
    checks_.SetOrigin(Path(key), Where(n));
    ValueReader reader(source_, Path(key), lines_);
    try {
      read(reader, n);
    } catch (const Error& e) {
      for (const auto& p : e.problems()) checks_.Add(p);
    } catch (const YAML::Exception& e) {  // a shape no reader expected: reported, never thrown on
      checks_.Add(Problem{Path(key), std::string("cannot be read: ") + e.msg, Where(n)});
    }
  }

  std::string Where(const YAML::Node& n) const {
    return lines_ ? Line(source_, n) : std::string(source_);
  }
  void Enter(std::string key, const YAML::Node& n) {
    path_.push_back(std::move(key));
    frames_.push_back({n, {}});
  }
  void Leave() {
    CheckUnknown();
    frames_.pop_back();
    path_.pop_back();
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
      std::string what = "unknown key";
      std::string near = NearestMatch(k, f.known);
      if (!near.empty()) what += "; did you mean `" + near + "`?";
      checks_.Add({Path(k), what, Where(kv.first)});
    }
  }

  std::string Path(std::string_view key) const { return Join(path_, key); }

  std::string_view source_;
  Checks& checks_;
  bool lines_;
  std::vector<std::string> path_;
  std::vector<Frame> frames_;
};

// Walks the description and applies one value at one dotted path. A bad value throws Error.
class PathSetter final : public Visitor {
 public:
  PathSetter(std::string_view path, std::string_view raw, const YAML::Node& value,
             std::string_view origin)
      : target_(path), raw_(raw), value_(value), origin_(origin) {}

  void Field(std::string_view key, bool& v, std::string_view) override { Apply(key, v); }
  void Field(std::string_view key, double& v, std::string_view) override { Apply(key, v); }
  void Field(std::string_view key, std::string& v, std::string_view) override {
    // A string takes the text as given when it is not a YAML scalar, so that
    // `--set predictor.actuation.payload={"load":0.3}` sets JSON text rather than failing.
    if (!Matches(key)) return;
    if (value_.IsScalar() || value_.IsNull()) {
      Reader().Read(value_, v);
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
    if (Matches(key)) Reader().Read(value_, v, lo, hi);
  }
  void IntegerList(std::string_view key, std::vector<int64_t>& v, int64_t lo, int64_t hi,
                   std::string_view) override {
    if (Matches(key)) Reader().Read(value_, v, lo, hi);
  }
  void Choice(std::string_view key, std::string& v, const std::vector<std::string>& allowed,
              std::string_view) override {
    if (Matches(key)) Reader().ReadChoice(value_, v, allowed);
  }
  void BeginSection(std::string_view key, std::string_view) override { path_.emplace_back(key); }
  void EndSection() override { path_.pop_back(); }

  // `list=[{...}, ...]` replaces the list; `list[i].key=value` sets a key of item i (i one past
  // the end appends an item).
  void List(std::string_view key, SectionList& list, std::string_view help) override {
    const std::string path = Join(path_, key);
    if (target_ == path) {
      found_ = true;
      if (!value_.IsNull() && !value_.IsSequence()) {
        Reader().Fail(value_, "must be a list of sections, e.g. [{key: value, ...}, ...]");
      }
      // The value is read by the file's loader, as the document {key: value}.
      YAML::Node doc(YAML::NodeType::Map);
      doc[std::string(key)] = value_;
      Checks checks;
      YamlLoader loader(origin_, doc, checks, false);
      loader.List(key, list, help);
      if (!checks.ok()) {
        std::vector<Problem> problems = checks.problems();
        for (auto& p : problems) p.key = Join(path_, p.key);
        throw Error(std::move(problems));
      }
      return;
    }
    if (!target_.starts_with(path + "[")) return;
    const size_t close = target_.find(']', path.size());
    size_t i = 0;
    const char* first = target_.data() + path.size() + 1;
    const char* last = target_.data() + (close == std::string::npos ? path.size() + 1 : close);
    auto [end, ec] = std::from_chars(first, last, i);
    if (close == std::string::npos || ec != std::errc() || end != last ||
        target_.compare(close + 1, 1, ".") != 0) {
      return;  // not an item key: unknown
    }
    const size_t n = list.size();
    if (i > n) {
      throw Error({Problem{target_,
                           "there is no item " + std::to_string(i) + " (the list has " +
                               std::to_string(n) + "; [" + std::to_string(n) + "] adds one)",
                           std::string(origin_)}});
    }
    if (i == n) list.Resize(n + 1);
    const bool was_found = found_;
    path_.push_back(ItemKey(key, i));
    try {
      list.Item(*this, i);
    } catch (...) {
      path_.pop_back();
      if (i == n) list.Resize(n);
      throw;
    }
    path_.pop_back();
    if (i == n && found_ == was_found) list.Resize(n);  // no such key in the item: no item added
  }

  bool found() const { return found_; }

 private:
  template <typename T>
  void Apply(std::string_view key, T& v) {
    if (Matches(key)) Reader().Read(value_, v);
  }
  ValueReader Reader() const { return ValueReader(origin_, target_, false); }
  bool Matches(std::string_view key) {
    if (Join(path_, key) != target_) return false;
    found_ = true;
    return true;
  }

  std::string target_;
  std::string raw_;
  YAML::Node value_;
  std::string_view origin_;
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
  void IntegerList(std::string_view key, std::vector<int64_t>&, int64_t, int64_t,
                   std::string_view) override {
    Add(key);
  }
  void Choice(std::string_view key, std::string&, const std::vector<std::string>&,
              std::string_view) override {
    Add(key);
  }
  void BeginSection(std::string_view key, std::string_view) override { path_.emplace_back(key); }
  void EndSection() override { path_.pop_back(); }
  // The list as a whole (an environment variable holds it as YAML flow text).
  void List(std::string_view key, SectionList&, std::string_view) override { Add(key); }

  std::vector<std::string> paths;

 private:
  void Add(std::string_view key) { paths.push_back(Join(path_, key)); }
  std::vector<std::string> path_;
};

// Runs the Validate hooks of every section, in description order.
class Validator final : public Visitor {
 public:
  explicit Validator(Checks& checks) : checks_(checks) {}
  void Field(std::string_view, bool&, std::string_view) override {}
  void Field(std::string_view, double&, std::string_view) override {}
  void Field(std::string_view, std::string&, std::string_view) override {}
  void Field(std::string_view, std::vector<std::string>&, std::string_view) override {}
  void Field(std::string_view, std::map<std::string, std::string>&, std::string_view) override {}
  void Integer(std::string_view, int64_t&, int64_t, int64_t, std::string_view) override {}
  void IntegerList(std::string_view, std::vector<int64_t>&, int64_t, int64_t,
                   std::string_view) override {}
  void Choice(std::string_view, std::string&, const std::vector<std::string>&,
              std::string_view) override {}
  void BeginSection(std::string_view key, std::string_view) override { checks_.Enter(key); }
  void EndSection() override { checks_.Leave(); }
  void Check(const std::function<void(Checks&)>& validate) override { validate(checks_); }
  void List(std::string_view key, SectionList& list, std::string_view) override {
    for (size_t i = 0; i < list.size(); ++i) {
      checks_.Enter(ItemKey(key, i));
      list.Item(*this, i);
      checks_.Leave();
    }
  }

 private:
  Checks& checks_;
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
  void IntegerList(std::string_view key, std::vector<int64_t>& v, int64_t, int64_t,
                   std::string_view help) override {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    Emit(key, help, s + "]");
  }
  void Choice(std::string_view key, std::string& v, const std::vector<std::string>&,
              std::string_view help) override {
    Emit(key, help, Quote(v));
  }
  void BeginSection(std::string_view key, std::string_view help) override {
    if (depth_ == 0 && !out_.str().empty()) out_ << "\n";
    Comment(help);
    out_ << Indent() << key << ":\n";
    ++depth_;
  }
  void EndSection() override { --depth_; }

  // A block sequence, an item's keys indented under its `- `. An empty list is `key: []` followed
  // by a default item, commented out, to show the keys an item takes.
  void List(std::string_view key, SectionList& list, std::string_view help) override {
    if (depth_ == 0 && !out_.str().empty()) out_ << "\n";
    Comment(help);
    if (list.size() == 0) {
      out_ << Indent() << key << ": []\n";
      YamlPrinter example;
      example.depth_ = 1;
      example.dash_ = true;
      list.DefaultItem(example);
      std::istringstream lines(example.str());
      out_ << Indent() << "# an item, with its defaults:\n";
      for (std::string line; std::getline(lines, line);) out_ << Indent() << "# " << line << "\n";
      return;
    }
    out_ << Indent() << key << ":\n";
    depth_ += 2;  // the keys of an item; its first line starts with "- " one level up
    for (size_t i = 0; i < list.size(); ++i) {
      dash_ = true;
      list.Item(*this, i);
      if (dash_) out_ << Indent() << "{}\n";  // an item without keys
      dash_ = false;
    }
    depth_ -= 2;
  }

  std::string str() const { return out_.str(); }

 private:
  // The indentation of a line; the first line of a list item starts with its `- `.
  std::string Indent() {
    std::string s(depth_ * 2, ' ');
    if (dash_) {
      s.replace(s.size() - 2, 2, "- ");
      dash_ = false;
    }
    return s;
  }
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
  bool dash_ = false;  // the next line opens a list item
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

// Applies a YAML document, recording its problems.
void LoadInto(std::string_view text, std::string_view source, const Describer& describe,
              Checks& checks) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    checks.Add({"", "not valid YAML: " + e.msg,
                std::string(source) + ":" + std::to_string(e.mark.line + 1)});
    return;
  }
  YamlLoader loader(source, root, checks);
  describe(loader);
  loader.Finish();
}

void LoadFileInto(const std::string& path, const Describer& describe, Checks& checks) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    checks.Add({"", "cannot read the config file: " + std::string(std::strerror(errno)), path});
    return;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  LoadInto(ss.str(), path, describe, checks);
}

// Sets one dotted path from its text; `origin` ("--set", "AIOT_X") is where the value came from.
void SetInto(std::string_view path, std::string_view value, std::string_view origin,
             const Describer& describe, Checks& checks) {
  PathSetter setter(path, value, ParseValue(value), origin);
  try {
    describe(setter);
  } catch (const Error& e) {
    for (const auto& p : e.problems()) checks.Add(p);
    return;
  }
  if (!setter.found()) {
    std::string what = "unknown key";
    std::string near = NearestMatch(path, Paths(describe));
    if (!near.empty()) what += "; did you mean `" + near + "`?";
    checks.Add({std::string(path), what, std::string(origin)});
    return;
  }
  checks.SetOrigin(std::string(path), std::string(origin));
}

void AssignInto(const std::string& assignment, const Describer& describe, Checks& checks) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    checks.Add({"", "expected section.key=value, got `" + assignment + "`", "--set"});
    return;
  }
  std::string_view a(assignment);
  SetInto(a.substr(0, eq), a.substr(eq + 1), "--set", describe, checks);
}

std::vector<std::string> EnvironmentInto(const std::vector<std::string>& env,
                                         const Describer& describe, Checks& checks) {
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
    SetInto(it->second, std::string_view(kv).substr(eq + 1), name, describe, checks);
  }
  return unknown;
}

void ThrowIfAny(const Checks& checks) {
  if (!checks.ok()) throw Error(checks.problems());
}

std::string JoinProblems(const std::vector<Problem>& problems) {
  std::string out;
  for (const auto& p : problems) out += (out.empty() ? "" : "\n") + p.ToString();
  return out;
}

}  // namespace

std::string Problem::ToString() const {
  std::string out = key.empty() ? what : key + ": " + what;
  if (!where.empty()) out += " (" + where + ")";
  return out;
}

Error::Error(std::vector<Problem> problems)
    : std::runtime_error(JoinProblems(problems)), problems_(std::move(problems)) {}

void Checks::Fail(std::string_view key, std::string what) {
  std::string path;
  for (const auto& s : sections_) path += (path.empty() ? "" : ".") + s;
  if (!key.empty()) path += (path.empty() ? "" : ".") + std::string(key);
  std::string where = Origin(path);
  problems_.push_back({std::move(path), std::move(what), std::move(where)});
}

std::string Checks::Origin(const std::string& path) const {
  std::string p = path;
  while (!p.empty()) {
    auto it = origins_.find(p);
    if (it != origins_.end()) return it->second;
    // "a.b[1].c" -> "a.b[1]" -> "a.b" -> "a".
    auto cut = p.back() == ']' ? p.rfind('[') : p.rfind('.');
    p = cut == std::string::npos ? "" : p.substr(0, cut);
  }
  return "";
}

LoadReport Load(const Sources& sources, const Describer& describe) {
  Checks checks;
  LoadReport report;
  if (!sources.file.empty()) LoadFileInto(sources.file, describe, checks);
  report.unknown_env = EnvironmentInto(sources.env, describe, checks);
  for (const auto& a : sources.sets) AssignInto(a, describe, checks);
  Validator validator(checks);
  describe(validator);
  report.problems = checks.problems();
  return report;
}

std::vector<Problem> RunChecks(const Describer& describe) {
  Checks checks;
  Validator validator(checks);
  describe(validator);
  return checks.problems();
}

void LoadYaml(std::string_view text, std::string_view source, const Describer& describe) {
  Checks checks;
  LoadInto(text, source, describe, checks);
  Validator validator(checks);
  describe(validator);
  ThrowIfAny(checks);
}

void LoadYamlFile(const std::string& path, const Describer& describe) {
  Checks checks;
  LoadFileInto(path, describe, checks);
  Validator validator(checks);
  describe(validator);
  ThrowIfAny(checks);
}

void Set(std::string_view path, std::string_view value, const Describer& describe) {
  Checks checks;
  SetInto(path, value, "--set", describe, checks);
  ThrowIfAny(checks);
}

void ApplyAssignments(const std::vector<std::string>& assignments, const Describer& describe) {
  Checks checks;
  for (const auto& a : assignments) AssignInto(a, describe, checks);
  ThrowIfAny(checks);
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
  Checks checks;
  auto unknown = EnvironmentInto(env, describe, checks);
  ThrowIfAny(checks);
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
