#include "base/config.h"

#include <gtest/gtest.h>

#include "base/config_list.h"

#include "tests/support/config.h"

namespace aiot::config {
namespace {

struct TlsConfig {
  bool enabled = false;
  std::string cert = "";
};
void Describe(Visitor& v, TlsConfig& c) {
  v.Field("enabled", c.enabled, "Serve TLS.");
  v.Field("cert", c.cert, "Certificate file (PEM).");
}

struct HttpConfig {
  std::string listen = "127.0.0.1:8080";
  uint16_t threads = 2;
  int64_t max_body = 1024;
  double ratio = 0.5;
  std::vector<std::string> tokens;
  TlsConfig tls;
};
void Describe(Visitor& v, HttpConfig& c) {
  v.Field("listen", c.listen, "Address and port.");
  v.Field("threads", c.threads, "Worker threads.");
  v.Field("max_body", c.max_body, "Body limit.");
  v.Field("ratio", c.ratio, "A ratio.");
  v.Field("tokens", c.tokens, "Tokens.");
  Section(v, "tls", c.tls, "TLS.");
}

struct Root {
  HttpConfig http;
  std::map<std::string, std::string> labels;
};
void Describe(Visitor& v, Root& c) {
  Section(v, "http", c.http, "HTTP server.");
  v.Field("labels", c.labels, "Labels.");
}

TEST(Config, DefaultsApplyWhenKeysAreAbsent) {
  Root r;
  LoadYaml("http:\n  threads: 4\n", "test.yaml", DescriberFor(r));
  EXPECT_EQ(r.http.threads, 4);
  EXPECT_EQ(r.http.listen, "127.0.0.1:8080");
  EXPECT_FALSE(r.http.tls.enabled);
}

TEST(Config, EmptyDocumentKeepsDefaults) {
  Root r;
  LoadYaml("", "empty.yaml", DescriberFor(r));
  EXPECT_EQ(r.http.max_body, 1024);
}

TEST(Config, UnknownKeyNamesLineAndNearestKey) {
  Root r;
  try {
    LoadYaml("http:\n  threads: 4\n  listne: 0.0.0.0:1\n", "c.yaml", DescriberFor(r));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "http.listne: unknown key; did you mean `listen`? (c.yaml:3)");
  }
}

TEST(Config, UnknownNestedSectionKey) {
  Root r;
  try {
    LoadYaml("http:\n  tls:\n    enabeld: true\n", "c.yaml", DescriberFor(r));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "http.tls.enabeld: unknown key; did you mean `enabled`? (c.yaml:3)");
  }
}

TEST(Config, UnknownTopLevelWithoutNearMatch) {
  Root r;
  try {
    LoadYaml("zzzzzzzz: 1\n", "c.yaml", DescriberFor(r));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "zzzzzzzz: unknown key (c.yaml:1)");
  }
}

TEST(Config, TypeErrorsSayWhatIsExpected) {
  Root r;
  EXPECT_THROW(LoadYaml("http:\n  threads: many\n", "c", DescriberFor(r)), Error);
  EXPECT_THROW(LoadYaml("http:\n  threads: 70000\n", "c", DescriberFor(r)), Error);
  EXPECT_THROW(LoadYaml("http:\n  tls:\n    enabled: perhaps\n", "c", DescriberFor(r)), Error);
  EXPECT_THROW(LoadYaml("http: 3\n", "c", DescriberFor(r)), Error);
  EXPECT_THROW(LoadYaml("http: [\n", "c", DescriberFor(r)), Error);
  try {
    LoadYaml("http:\n  ratio: abc\n", "c", DescriberFor(r));
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "http.ratio: must be a number, got `abc` (c:2)");
  }
}

// Found by base_config_fuzz: a map whose key is itself a map ended the process with an uncaught
// YAML::BadConversion. It is a problem in the report like any other shape error.
TEST(Config, MapWithNonScalarKeyIsAProblemNotACrash) {
  Root r;
  try {
    LoadYaml("labels: {{a: 1}: x, b: y}\n", "c", DescriberFor(r));
    ADD_FAILURE() << "a map key that is a map was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "labels: must be a map with string keys (c:1)");
  }
  EXPECT_THROW(LoadYaml("labels: {[1, 2]: x}\n", "c", DescriberFor(r)), Error);
}

TEST(Config, SizeSuffixes) {
  Root r;
  LoadYaml("http:\n  max_body: 16MiB\n", "c", DescriberFor(r));
  EXPECT_EQ(r.http.max_body, 16 * 1024 * 1024);
}

TEST(Config, SetOverridesByDottedPath) {
  Root r;
  ApplyAssignments({"http.listen=0.0.0.0:9000", "http.tls.enabled=true", "http.tokens=[a, b]"},
                   DescriberFor(r));
  EXPECT_EQ(r.http.listen, "0.0.0.0:9000");
  EXPECT_TRUE(r.http.tls.enabled);
  EXPECT_EQ(r.http.tokens, (std::vector<std::string>{"a", "b"}));
  try {
    Set("http.lisen", "x", DescriberFor(r));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "http.lisen: unknown key; did you mean `http.listen`? (--set)");
  }
  EXPECT_THROW(ApplyAssignments({"novalue"}, DescriberFor(r)), Error);
  Set("http.listen", R"({"a":1})", DescriberFor(r));  // JSON text for a string key stays text
  EXPECT_EQ(r.http.listen, R"({"a":1})");
}

TEST(Config, EnvironmentOverrides) {
  Root r;
  auto unknown = ApplyEnvironment(
      {"PATH=/bin", "AIOT_HTTP_THREADS=8", "AIOT_HTTP_TLS_CERT=/c.pem", "AIOT_HTTP_TOKENS=x,y",
       "AIOT_LABELS=site=a,line=2", "AIOT_CONFIG=/etc/aiot.yaml", "AIOT_HTTP_THREDS=1"},
      DescriberFor(r));
  EXPECT_EQ(r.http.threads, 8);
  EXPECT_EQ(r.http.tls.cert, "/c.pem");
  EXPECT_EQ(r.http.tokens, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r.labels.at("line"), "2");
  EXPECT_EQ(unknown, std::vector<std::string>{"AIOT_HTTP_THREDS"});
  EXPECT_THROW(ApplyEnvironment({"AIOT_HTTP_THREADS=-1"}, DescriberFor(r)), Error);
}

TEST(Config, DefaultsPrintWithCommentsAndReadBack) {
  Root r;
  r.http.tokens = {"a b", "c"};
  r.labels = {{"site", "north"}};
  std::string yaml = ToYaml(DescriberFor(r));
  EXPECT_NE(
      yaml.find("# HTTP server.\nhttp:\n  # Address and port.\n  listen: \"127.0.0.1:8080\"\n"),
      std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("  tls:\n    # Serve TLS.\n    enabled: false\n"), std::string::npos);
  Root back;
  LoadYaml(yaml, "printed", DescriberFor(back));
  EXPECT_EQ(back.http.tokens, r.http.tokens);
  EXPECT_EQ(back.labels, r.labels);
  EXPECT_EQ(back.http.ratio, 0.5);
  EXPECT_EQ(ToYaml(DescriberFor(back)), yaml);
}

// Found by base_config_fuzz: a string with a newline (a blank line inside a quoted scalar) was
// printed as a raw line break, which reads back as a space.
TEST(Config, StringsWithControlCharactersPrintAndReadBack) {
  Root r;
  r.http.tokens = {"line one\nline two", "tab\there", "bell\x07", "quote \" and \\"};
  r.labels = {{"multi\nline", "cr\r"}};
  std::string yaml = ToYaml(DescriberFor(r));
  Root back;
  LoadYaml(yaml, "printed", DescriberFor(back));
  EXPECT_EQ(back.http.tokens, r.http.tokens) << yaml;
  EXPECT_EQ(back.labels, r.labels) << yaml;
}

TEST(Config, PathsAndEnvNames) {
  Root r;
  auto paths = Paths(DescriberFor(r));
  ASSERT_EQ(paths.size(), 8u);
  EXPECT_EQ(paths[6], "http.tls.cert");
  EXPECT_EQ(EnvName("http.tls.cert"), "AIOT_HTTP_TLS_CERT");
}

// The typed fields and the Validate hook, as a module would declare them.
enum class Mode { kOff, kNormal, kFull };
inline constexpr Named<Mode> kModeNames[] = {
    {Mode::kOff, "off"}, {Mode::kNormal, "normal"}, {Mode::kFull, "full"}};

struct Limits {
  Mode mode = Mode::kNormal;
  uint32_t qos = 0;
  std::vector<int> layers = {60, 30, 10};
  int low = 1;
  int high = 10;
};
void Describe(Visitor& v, Limits& c) {
  v.Field("mode", c.mode, kModeNames, "off, normal or full.");
  v.Field("qos", c.qos, Range{0, 1}, "0 or 1.");
  v.Field("layers", c.layers, Range{1, 1000}, "Layer sizes.");
  v.Field("low", c.low, "Low.");
  v.Field("high", c.high, "High.");
}
void Validate(Checks& checks, const Limits& c) {
  if (c.low > c.high) checks.Fail("low", "must not exceed high (" + std::to_string(c.high) + ")");
}

struct Typed {
  Limits limits;
};
void Describe(Visitor& v, Typed& c) { Section(v, "limits", c.limits, "Limits."); }

// The problems of one document, each as "key: what (where)".
std::vector<std::string> ProblemsOf(const std::string& yaml, Typed& t) {
  return test_support::LoadProblems(yaml, "t.yaml", DescriberFor(t));
}

TEST(ConfigTyped, EnumReadsNamesAndListsTheAllowedOnes) {
  Typed t;
  EXPECT_TRUE(ProblemsOf("limits:\n  mode: FULL\n", t).empty());
  EXPECT_EQ(t.limits.mode, Mode::kFull);
  EXPECT_EQ(
      ProblemsOf("limits:\n  mode: fast\n", t),
      std::vector<std::string>{"limits.mode: must be off, normal or full, got `fast` (t.yaml:2)"});
  EXPECT_EQ(t.limits.mode, Mode::kFull);  // a refused value leaves the field as it was
  EXPECT_NE(ToYaml(DescriberFor(t)).find("  mode: full\n"), std::string::npos);
  EXPECT_EQ(NameOf(kModeNames, Mode::kOff), "off");
}

TEST(ConfigTyped, RangedIntegerSaysTheRange) {
  Typed t;
  EXPECT_EQ(ProblemsOf("limits:\n  qos: 2\n", t),
            std::vector<std::string>{"limits.qos: must be between 0 and 1, got `2` (t.yaml:2)"});
  EXPECT_EQ(t.limits.qos, 0u);
  EXPECT_TRUE(ProblemsOf("limits:\n  qos: 1\n", t).empty());
  EXPECT_EQ(t.limits.qos, 1u);
}

TEST(ConfigTyped, IntegerListNamesTheBadItemAndItsLine) {
  Typed t;
  EXPECT_TRUE(ProblemsOf("limits:\n  layers: [8, 4]\n", t).empty());
  EXPECT_EQ(t.limits.layers, (std::vector<int>{8, 4}));
  EXPECT_EQ(
      ProblemsOf("limits:\n  layers:\n    - 8\n    - four\n", t),
      std::vector<std::string>{"limits.layers: item 2 must be an integer, got `four` (t.yaml:4)"});
  EXPECT_EQ(ProblemsOf("limits:\n  layers: [8, 0]\n", t),
            std::vector<std::string>{
                "limits.layers: item 2 must be between 1 and 1000, got `0` (t.yaml:2)"});
  EXPECT_EQ(t.limits.layers, (std::vector<int>{8, 4}));
  Set("limits.layers", "16,8", DescriberFor(t));  // the environment's and --set's form
  EXPECT_EQ(t.limits.layers, (std::vector<int>{16, 8}));
  EXPECT_TRUE(ProblemsOf("limits:\n  layers: []\n", t).empty());
  EXPECT_TRUE(t.limits.layers.empty());
}

TEST(ConfigTyped, ValidateFailureNamesKeyAndLine) {
  Typed t;
  EXPECT_EQ(ProblemsOf("limits:\n  high: 3\n  low: 5\n", t),
            std::vector<std::string>{"limits.low: must not exceed high (3) (t.yaml:3)"});
  // A key left at its default has no line; the problem still names it.
  Typed d;
  d.limits.high = 0;
  auto problems = RunChecks(DescriberFor(d));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].ToString(), "limits.low: must not exceed high (0)");
}

TEST(ConfigTyped, EveryProblemIsReportedInOneRun) {
  Typed t;
  auto problems = ProblemsOf("limits:\n  mode: fast\n  qos: 7\n  hihg: 1\n  low: 50\n", t);
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "limits.mode: must be off, normal or full, got `fast` (t.yaml:2)",
                          "limits.qos: must be between 0 and 1, got `7` (t.yaml:3)",
                          "limits.hihg: unknown key; did you mean `high`? (t.yaml:4)",
                          "limits.low: must not exceed high (10) (t.yaml:5)"}));
}

TEST(ConfigTyped, LoadReportsWhereOverridesCameFrom) {
  std::string path = ::testing::TempDir() + "config_typed.yaml";
  {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("limits:\n  low: 2\n", f);
    fclose(f);
  }
  Typed t;
  LoadReport r = Load({.file = path,
                       .env = {"AIOT_LIMITS_MODE=turbo", "AIOT_LIMITS_NOPE=1"},
                       .sets = {"limits.high=1"}},
                      DescriberFor(t));
  std::vector<std::string> got;
  for (const auto& p : r.problems) got.push_back(p.ToString());
  EXPECT_EQ(got, (std::vector<std::string>{
                     "limits.mode: must be off, normal or full, got `turbo` (AIOT_LIMITS_MODE)",
                     "limits.low: must not exceed high (1) (" + path + ":2)"}));
  EXPECT_EQ(r.unknown_env, std::vector<std::string>{"AIOT_LIMITS_NOPE"});
  EXPECT_EQ(t.limits.high, 1);
}

// Lists of sections (base/config_list.h): items are sections of one struct, with their own
// Validate; what involves several items is the enclosing section's Validate.
struct Link {
  std::string name = "link";
  std::string url;
  Limits limits;
};
void Describe(Visitor& v, Link& c) {
  v.Field("name", c.name, "Its name.");
  v.Field("url", c.url, "Where to.");
  Section(v, "limits", c.limits, "Its limits.");
}
void Validate(Checks& checks, const Link& c) {
  if (c.url.empty()) checks.Fail("url", "is required");
}
struct Links {
  int keep = 1;
  std::vector<Link> links;
};
void Describe(Visitor& v, Links& c) {
  v.Field("keep", c.keep, "Kept.");
  Sections(v, "links", c.links, "The links.");
}
void Validate(Checks& checks, const Links& c) {
  for (size_t i = 1; i < c.links.size(); ++i) {
    if (c.links[i].name == c.links[0].name)
      checks.Fail("links[" + std::to_string(i) + "].name", "`" + c.links[i].name + "` is taken");
  }
}
struct WithLinks {
  Links net;
};
void Describe(Visitor& v, WithLinks& c) { Section(v, "net", c.net, "Network."); }

std::vector<std::string> ProblemsOf(const std::string& yaml, WithLinks& w) {
  return test_support::LoadProblems(yaml, "l.yaml", DescriberFor(w));
}

TEST(ConfigList, ItemsLoadAsSectionsWithTheirLines) {
  WithLinks w;
  EXPECT_TRUE(w.net.links.empty());
  EXPECT_TRUE(ProblemsOf("net:\n"
                         "  links:\n"
                         "    - name: a\n"
                         "      url: x://1\n"
                         "      limits: {mode: full, low: 2}\n"
                         "    - {name: b, url: x://2}\n",
                         w)
                  .empty());
  ASSERT_EQ(w.net.links.size(), 2u);
  EXPECT_EQ(w.net.links[0].name, "a");
  EXPECT_EQ(w.net.links[0].limits.mode, Mode::kFull);
  EXPECT_EQ(w.net.links[0].limits.low, 2);
  EXPECT_EQ(w.net.links[1].url, "x://2");
  EXPECT_EQ(w.net.links[1].limits.mode, Mode::kNormal);  // an item's defaults
  // A list in the file replaces the list; null empties it.
  EXPECT_TRUE(ProblemsOf("net:\n  links:\n    - {name: c, url: x://3}\n", w).empty());
  ASSERT_EQ(w.net.links.size(), 1u);
  EXPECT_EQ(w.net.links[0].name, "c");
  EXPECT_TRUE(ProblemsOf("net:\n  links:\n", w).empty());
  EXPECT_TRUE(w.net.links.empty());
}

TEST(ConfigList, EveryProblemNamesTheItemKeyAndItsLine) {
  WithLinks w;
  EXPECT_EQ(ProblemsOf("net:\n"
                       "  links:\n"
                       "    - name: a\n"      // 3
                       "      url: x://1\n"   // 4
                       "      limits:\n"      // 5
                       "        qos: 9\n"     // 6
                       "        high: 0\n"    // 7
                       "    - name: a\n"      // 8: taken
                       "      urll: x://2\n"  // 9: unknown, and url missing
                       "    - 42\n"           // 10: not a section
                       "    - name: c\n"      // 11
                       "      url: [x]\n",    // 12: not a string
                       w),
            (std::vector<std::string>{
                "net.links[0].limits.qos: must be between 0 and 1, got `9` (l.yaml:6)",
                "net.links[1].urll: unknown key; did you mean `url`? (l.yaml:9)",
                "net.links[2]: must be a section (a map of keys) (l.yaml:10)",
                "net.links[3].url: must be a string (l.yaml:12)",
                "net.links[0].limits.low: must not exceed high (0) (l.yaml:6)",
                "net.links[1].url: is required (l.yaml:8)",
                "net.links[2].url: is required (l.yaml:10)",
                "net.links[3].url: is required (l.yaml:12)",
                "net.links[1].name: `a` is taken (l.yaml:8)",
            }));
  WithLinks fresh;
  EXPECT_EQ(ProblemsOf("net:\n  links: {name: a}\n", fresh),
            std::vector<std::string>{
                "net.links: must be a list of sections (`- key: value` items) (l.yaml:2)"});
}

TEST(ConfigList, OverridesReplaceTheListOrSetOneItemKey) {
  WithLinks w;
  ApplyAssignments({"net.links=[{name: a, url: x://1}, {name: b, url: x://2}]"}, DescriberFor(w));
  ASSERT_EQ(w.net.links.size(), 2u);
  EXPECT_EQ(w.net.links[1].url, "x://2");
  ApplyAssignments({"net.links[1].url=x://22", "net.links[0].limits.mode=off",
                    "net.links[2].name=c", "net.links[2].url=x://3"},
                   DescriberFor(w));
  ASSERT_EQ(w.net.links.size(), 3u);
  EXPECT_EQ(w.net.links[1].url, "x://22");
  EXPECT_EQ(w.net.links[0].limits.mode, Mode::kOff);
  EXPECT_EQ(w.net.links[2].name, "c");
  try {
    Set("net.links[5].url", "x", DescriberFor(w));
    ADD_FAILURE() << "an index past the end was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "net.links[5].url: there is no item 5 (the list has 3; [3] adds one) (--set)");
  }
  EXPECT_THROW(Set("net.links[3].nope", "x", DescriberFor(w)), Error);
  EXPECT_EQ(w.net.links.size(), 3u);  // an unknown key adds no item
  EXPECT_THROW(Set("net.links[x].url", "x", DescriberFor(w)), Error);
  try {
    Set("net.links", "[{name: a, nmae: b}]", DescriberFor(w));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "net.links[0].nmae: unknown key; did you mean `name`? (--set)");
  }
  EXPECT_THROW(Set("net.links", "7", DescriberFor(w)), Error);
  // The environment holds the whole list; a later problem names the variable.
  Links l;
  auto unknown = ApplyEnvironment({"AIOT_LINKS=[{name: e}]"}, DescriberFor(l));
  EXPECT_TRUE(unknown.empty());
  ASSERT_EQ(l.links.size(), 1u);
  LoadReport r =
      Load({.file = "", .env = {"AIOT_NET_LINKS=[{name: e}]"}, .sets = {}}, DescriberFor(w));
  std::vector<std::string> got;
  for (const auto& p : r.problems) got.push_back(p.ToString());
  EXPECT_EQ(got, std::vector<std::string>{"net.links[0].url: is required (AIOT_NET_LINKS)"});
}

TEST(ConfigList, PrintsAsABlockSequenceAndReadsBack) {
  WithLinks w;
  std::string empty = ToYaml(DescriberFor(w));
  EXPECT_NE(empty.find("  # The links.\n  links: []\n  # an item, with its defaults:\n"
                       "  # - # Its name.\n  #   name: link\n"),
            std::string::npos)
      << empty;
  WithLinks back;
  LoadYaml(empty, "printed", DescriberFor(back));
  EXPECT_TRUE(back.net.links.empty());

  w.net.links.resize(2);
  w.net.links[0].url = "x://1";
  w.net.links[0].limits.layers = {3};
  w.net.links[1].name = "b";
  w.net.links[1].url = "x://2";
  std::string yaml = ToYaml(DescriberFor(w));
  EXPECT_NE(yaml.find("  links:\n    - # Its name.\n      name: link\n"), std::string::npos)
      << yaml;
  LoadYaml(yaml, "printed", DescriberFor(back));
  ASSERT_EQ(back.net.links.size(), 2u);
  EXPECT_EQ(back.net.links[0].limits.layers, (std::vector<int>{3}));
  EXPECT_EQ(back.net.links[1].name, "b");
  EXPECT_EQ(ToYaml(DescriberFor(back)), yaml);
  EXPECT_EQ(Paths(DescriberFor(w)), (std::vector<std::string>{"net.keep", "net.links"}));
}

// A visitor of its own (not one of config.cc's) sees lists through Visitor::List, and walks the
// items as sections with SectionList::Item.
class KeyLister final : public Visitor {
 public:
  void Field(std::string_view key, bool&, std::string_view) override { Add(key); }
  void Field(std::string_view key, double&, std::string_view) override { Add(key); }
  void Field(std::string_view key, std::string& v, std::string_view) override {
    Add(std::string(key) + "=" + v);
  }
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
  void List(std::string_view key, SectionList& list, std::string_view) override {
    for (size_t i = 0; i < list.size(); ++i) {
      path_.push_back(std::string(key) + "[" + std::to_string(i) + "]");
      list.Item(*this, i);
      path_.pop_back();
    }
  }
  void Check(const std::function<void(Checks&)>&) override { ++checks; }

  std::vector<std::string> keys;
  int checks = 0;

 private:
  void Add(std::string_view key) {
    std::string k;
    for (const auto& p : path_) k += p + ".";
    keys.push_back(k + std::string(key));
  }
  std::vector<std::string> path_;
};

TEST(ConfigList, AVisitorOfItsOwnWalksTheItems) {
  Links l;
  l.links.resize(2);
  l.links[0].name = "a";
  l.links[1].name = "b";
  KeyLister v;
  DescriberFor(l)(v);
  EXPECT_EQ(v.keys, (std::vector<std::string>{
                        "keep", "links[0].name=a", "links[0].url=", "links[0].limits.mode",
                        "links[0].limits.qos", "links[0].limits.layers", "links[0].limits.low",
                        "links[0].limits.high", "links[1].name=b",
                        "links[1].url=", "links[1].limits.mode", "links[1].limits.qos",
                        "links[1].limits.layers", "links[1].limits.low", "links[1].limits.high"}));
  // Each item's Validate, each item's limits' Validate, and the list's enclosing section's.
  EXPECT_EQ(v.checks, 5);
}

}  // namespace
}  // namespace aiot::config
