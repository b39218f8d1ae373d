#include "base/config.h"

#include <gtest/gtest.h>

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
    EXPECT_STREQ(e.what(), "c.yaml:3: unknown key `http.listne`; did you mean `listen`?");
  }
}

TEST(Config, UnknownNestedSectionKey) {
  Root r;
  try {
    LoadYaml("http:\n  tls:\n    enabeld: true\n", "c.yaml", DescriberFor(r));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "c.yaml:3: unknown key `http.tls.enabeld`; did you mean `enabled`?");
  }
}

TEST(Config, UnknownTopLevelWithoutNearMatch) {
  Root r;
  try {
    LoadYaml("zzzzzzzz: 1\n", "c.yaml", DescriberFor(r));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "c.yaml:1: unknown key `zzzzzzzz`");
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
    EXPECT_STREQ(e.what(), "c:2: `http.ratio` must be a number, got `abc`");
  }
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
    EXPECT_STREQ(e.what(), "unknown key `http.lisen`; did you mean `http.listen`?");
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

}  // namespace
}  // namespace aiot::config
