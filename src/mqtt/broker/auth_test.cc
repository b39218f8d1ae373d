#include "mqtt/broker/auth.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/support/testing.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "base/errc.h"

namespace aiot::mqtt::broker {
namespace {

namespace fs = std::filesystem;

// A password file written by Debian's mosquitto_passwd with `args` (e.g. "-H sha512").
class MosquittoPasswd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v mosquitto_passwd >/dev/null 2>&1") != 0)
      AIOT_SKIP_WITHOUT_PEER("mosquitto_passwd (Debian package mosquitto) not installed");
    dir_ = fs::temp_directory_path() / ("aiot_auth_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  std::string Write(const std::string& args) {
    std::string path = (dir_ / "passwd").string();
    std::string cmd = "mosquitto_passwd " + args + " -c -b " + path +
                      " alice 's3cret pass' >/dev/null && mosquitto_passwd " + args + " -b " +
                      path + " bob hunter2 >/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return path;
  }
  fs::path dir_;
};

TEST_F(MosquittoPasswd, Pbkdf2Sha512EntriesVerify) {
  auto f = PasswordFile::Load(Write(""));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->size(), 2u);
  EXPECT_TRUE(f->Check("alice", "s3cret pass"));
  EXPECT_TRUE(f->Check("bob", "hunter2"));
  EXPECT_FALSE(f->Check("alice", "hunter2"));
  EXPECT_FALSE(f->Check("alice", "s3cret pas"));
  EXPECT_FALSE(f->Check("alice", ""));
  EXPECT_FALSE(f->Check("carol", "hunter2"));
  EXPECT_TRUE(f->Contains("bob"));
  EXPECT_FALSE(f->Contains("carol"));
}

TEST_F(MosquittoPasswd, Sha512EntriesVerify) {
  std::string path = Write("-H sha512");
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  ASSERT_EQ(first.rfind("alice:$6$", 0), 0u) << first;
  auto f = PasswordFile::Load(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(f->Check("alice", "s3cret pass"));
  EXPECT_FALSE(f->Check("alice", "s3cret pasS"));
  EXPECT_TRUE(f->Check("bob", "hunter2"));
}

TEST(PasswordFile, RejectsPlainTextAndMalformedLines) {
  auto plain = PasswordFile::Parse("alice:secret\n");
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error(), make_error_code(errc::parse_error));
  EXPECT_EQ(plain.status().message().rfind("line 1: ", 0), 0u) << plain.status().ToString();
  auto no_colon = PasswordFile::Parse("# c\n\nalice$7$1$AAAA$AAAA\n");
  ASSERT_FALSE(no_colon.ok());
  EXPECT_EQ(no_colon.status().message().rfind("line 3: ", 0), 0u) << no_colon.status().ToString();
  EXPECT_FALSE(PasswordFile::Parse("a:$7$0$AAAA$AAAA\n").ok());
  EXPECT_FALSE(PasswordFile::Parse("a:$7$x$AAAA$AAAA\n").ok());
  EXPECT_FALSE(PasswordFile::Parse("a:$7$101$A!AA$AAAA\n").ok());
  EXPECT_FALSE(PasswordFile::Parse("a:$6$AAAA$AAAA\n").ok());  // hash not 64 bytes
  auto empty = PasswordFile::Parse("# only comments\r\n\r\n");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 0u);
}

TEST(PasswordFile, LoadErrorNamesTheFileAndTheLine) {
  fs::path path = fs::temp_directory_path() / ("aiot_passwd_bad_" + std::to_string(::getpid()));
  std::ofstream(path) << "# users\nalice:secret\n";
  auto f = PasswordFile::Load(path.string());
  fs::remove(path);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error(), make_error_code(errc::parse_error));
  EXPECT_EQ(f.status().message(),
            path.string() +
                ": line 2: not a $6$ or $7$ password hash (create the file with mosquitto_passwd)");
}

TEST(PasswordFile, MissingFileIsNotFound) {
  auto f = PasswordFile::Load("/nonexistent/aiot/passwd");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error(), make_error_code(errc::not_found));
  EXPECT_NE(f.status().message().find("/nonexistent/aiot/passwd"), std::string::npos);
}

const std::optional<std::string> kAnon;
std::optional<std::string> User(const char* u) { return std::string(u); }

TEST(AclFile, MosquittoExampleFile) {
  // The shape of Mosquitto's aclfile.example.
  auto acl = AclFile::Parse(R"(# anonymous clients
topic read $SYS/#
topic public/#

user alice
topic readwrite alice/#
topic read shared/#
topic deny shared/secret/#
topic write cmd/+

user bob
topic read shared/+

pattern read devices/%c/in
pattern write devices/%c/out/#
pattern readwrite users/%u/#
)");
  ASSERT_TRUE(acl.ok()) << acl.status().ToString();
  // Anonymous.
  EXPECT_TRUE(acl->Check("x", kAnon, "$SYS/broker/uptime", kAccessRead));
  EXPECT_FALSE(acl->Check("x", kAnon, "$SYS/broker/uptime", kAccessWrite));
  EXPECT_TRUE(acl->Check("x", kAnon, "public/a/b", kAccessWrite));
  EXPECT_FALSE(acl->Check("x", kAnon, "alice/a", kAccessRead));
  // Users.
  EXPECT_TRUE(acl->Check("c1", User("alice"), "alice/x", kAccessWrite));
  EXPECT_TRUE(acl->Check("c1", User("alice"), "shared/a", kAccessRead));
  EXPECT_FALSE(acl->Check("c1", User("alice"), "shared/a", kAccessWrite));
  EXPECT_FALSE(acl->Check("c1", User("alice"), "shared/secret/k", kAccessRead));  // deny wins
  EXPECT_TRUE(acl->Check("c1", User("alice"), "cmd/run", kAccessWrite));
  EXPECT_FALSE(acl->Check("c1", User("alice"), "cmd/run", kAccessRead));
  EXPECT_FALSE(acl->Check("c1", User("alice"), "public/a", kAccessRead));  // not anonymous
  EXPECT_TRUE(acl->Check("c2", User("bob"), "shared/a", kAccessRead));
  EXPECT_FALSE(acl->Check("c2", User("bob"), "shared/a/b", kAccessRead));
  EXPECT_FALSE(acl->Check("c3", User("carol"), "shared/a", kAccessRead));  // no rules: denied
  // Patterns apply to everyone.
  EXPECT_TRUE(acl->Check("fan-1", User("carol"), "devices/fan-1/in", kAccessRead));
  EXPECT_FALSE(acl->Check("fan-1", User("carol"), "devices/fan-1/in", kAccessWrite));
  EXPECT_FALSE(acl->Check("fan-1", User("carol"), "devices/fan-2/in", kAccessRead));
  EXPECT_TRUE(acl->Check("fan-1", kAnon, "devices/fan-1/out/t", kAccessWrite));
  EXPECT_TRUE(acl->Check("c", User("carol"), "users/carol/x", kAccessRead));
  EXPECT_FALSE(acl->Check("c", User("carol"), "users/alice/x", kAccessRead));
  EXPECT_FALSE(acl->Check("c", kAnon, "users//x", kAccessRead));  // %u needs a username
  // A client id or username with wildcards or '/' does not widen a pattern (Mosquitto 2).
  EXPECT_FALSE(acl->Check("+", kAnon, "devices/a/in", kAccessRead));
  EXPECT_FALSE(acl->Check("#", kAnon, "devices/a/in", kAccessRead));
  EXPECT_FALSE(acl->Check("a/b", kAnon, "devices/a/b/in", kAccessRead));
  EXPECT_FALSE(acl->Check("c", User("#"), "users/x/y", kAccessRead));
}

TEST(AclFile, SubscribeNeedsAReadRuleCoveringTheFilter) {
  auto acl = AclFile::Parse(
      "user alice\ntopic read sensors/#\ntopic deny sensors/private/#\ntopic write out/#\n"
      "pattern read devices/%c/#\n");
  ASSERT_TRUE(acl.ok());
  auto alice = User("alice");
  EXPECT_TRUE(acl->CheckSubscribe("c", alice, "sensors/#"));
  EXPECT_TRUE(acl->CheckSubscribe("c", alice, "sensors/+/temp"));
  EXPECT_TRUE(acl->CheckSubscribe("c", alice, "sensors"));
  EXPECT_FALSE(acl->CheckSubscribe("c", alice, "#"));
  EXPECT_FALSE(acl->CheckSubscribe("c", alice, "+/temp"));
  EXPECT_FALSE(acl->CheckSubscribe("c", alice, "sensors/private/#"));
  EXPECT_FALSE(acl->CheckSubscribe("c", alice, "sensors/private/x"));
  EXPECT_FALSE(acl->CheckSubscribe("c", alice, "out/x"));  // write only
  EXPECT_TRUE(acl->CheckSubscribe("c", alice, "devices/c/#"));
  EXPECT_FALSE(acl->CheckSubscribe("c", alice, "devices/+/#"));
  // Covered on subscribe, but the denied topics are still filtered on delivery.
  EXPECT_FALSE(acl->Check("c", alice, "sensors/private/x", kAccessRead));
}

TEST(AclFile, ParseErrors) {
  auto bad = AclFile::Parse("topic read a/#/b\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), make_error_code(errc::parse_error));
  EXPECT_EQ(bad.status().message(), "line 1: invalid topic filter `a/#/b`");
  EXPECT_FALSE(AclFile::Parse("user\n").ok());
  EXPECT_FALSE(AclFile::Parse("topic\n").ok());
  EXPECT_FALSE(AclFile::Parse("allow everything\n").ok());
  // `topic read` alone means a filter called "read" with readwrite access, as in Mosquitto.
  auto t = AclFile::Parse("topic read\n");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->Check("c", kAnon, "read", kAccessWrite));
}

TEST(FilterCovers, Levels) {
  EXPECT_TRUE(FilterCovers("#", "a/b"));
  EXPECT_TRUE(FilterCovers("#", "#"));
  EXPECT_FALSE(FilterCovers("#", "$SYS/#"));
  EXPECT_FALSE(FilterCovers("+/x", "$SYS/x"));
  EXPECT_TRUE(FilterCovers("$SYS/#", "$SYS/broker/+"));
  EXPECT_TRUE(FilterCovers("a/+", "a/+"));
  EXPECT_TRUE(FilterCovers("a/+", "a/b"));
  EXPECT_FALSE(FilterCovers("a/+", "a/#"));
  EXPECT_FALSE(FilterCovers("a/b", "a/+"));
  EXPECT_TRUE(FilterCovers("a/#", "a"));
  EXPECT_FALSE(FilterCovers("a/+", "a"));
  EXPECT_FALSE(FilterCovers("a", "a/b"));
}

TEST(AuthPolicy, PasswordFileThenExternalAuthenticator) {
  fs::path dir = fs::temp_directory_path() / ("aiot_auth_policy_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // A $6$ line computed independently: SHA-512("pw" || "salt"), as mosquitto 1.x wrote it.
  {
    std::ofstream(dir / "passwd") << "# users\nalice:$6$c2FsdA==$"
                                     "oPeb5nMm4U4xiTpjSVruRPjXz2QaN/"
                                     "TSTSakuCiJtR8qzibNgZZ412rWVSMttxWmz05EMhOAaVT07opmzYU/tg==\n";
  }
  int external_calls = 0;
  auto policy = AuthPolicy::Load(
      {.password_file = (dir / "passwd").string(), .acl_file = ""}, [&](const AuthRequest& r) {
        ++external_calls;
        if (*r.username != "fan-1") return AuthResult::kUnknownUser;
        if (r.listener != "127.0.0.1:1883") return AuthResult::kNotAuthorized;
        return r.password == "devpw" ? AuthResult::kAllow : AuthResult::kBadCredentials;
      });
  fs::remove_all(dir);
  ASSERT_TRUE(policy.ok());
  const AuthPolicy& p = **policy;
  auto req = [](std::string_view u, std::optional<std::string_view> pw,
                std::string_view listener = "127.0.0.1:1883") {
    return AuthRequest{.client_id = "c", .username = u, .password = pw, .listener = listener};
  };
  EXPECT_EQ(p.Authenticate(req("alice", "pw")), AuthResult::kAllow);
  EXPECT_EQ(p.Authenticate(req("alice", "pW")), AuthResult::kBadCredentials);
  EXPECT_EQ(p.Authenticate(req("alice", std::nullopt)), AuthResult::kBadCredentials);
  EXPECT_EQ(external_calls, 0);  // the file knows alice: its verdict is final
  EXPECT_EQ(p.Authenticate(req("fan-1", "devpw")), AuthResult::kAllow);
  EXPECT_EQ(p.Authenticate(req("fan-1", "nope")), AuthResult::kBadCredentials);
  EXPECT_EQ(p.Authenticate(req("fan-1", "devpw", "10.0.0.1:1883")), AuthResult::kNotAuthorized);
  EXPECT_EQ(p.Authenticate(req("mallory", "x")), AuthResult::kBadCredentials);
  EXPECT_TRUE(p.has_credential_store());
  EXPECT_FALSE(p.has_acl());
}

TEST(AuthPolicy, NothingConfigured) {
  auto policy = AuthPolicy::Load({}, nullptr);
  ASSERT_TRUE(policy.ok());
  EXPECT_FALSE((*policy)->has_credential_store());
  EXPECT_EQ(
      (*policy)->Authenticate({.client_id = "c", .username = "u", .password = "p", .listener = ""}),
      AuthResult::kUnknownUser);
  auto missing = AuthPolicy::Load({.password_file = "", .acl_file = "/nonexistent/acl"}, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "cannot open /nonexistent/acl: No such file or directory");
}

}  // namespace
}  // namespace aiot::mqtt::broker
