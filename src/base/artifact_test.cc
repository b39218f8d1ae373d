#include "base/artifact.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/errc.h"
#include "base/file.h"
#include "base/sha256.h"

namespace aiot {
namespace {

TEST(Artifact, ModelNames) {
  for (const char* ok : {"fan-mlp", "a", "Model_2.1", "9x"})
    EXPECT_TRUE(IsValidModelName(ok)) << ok;
  for (const char* bad : {"", "-a", ".a", "a/b", "a..b", "a b", "a+", "#"}) {
    EXPECT_FALSE(IsValidModelName(bad)) << bad;
  }
  EXPECT_TRUE(IsValidModelName(std::string(64, 'm')));
  EXPECT_FALSE(IsValidModelName(std::string(65, 'm')));
}

TEST(Artifact, Sha256Hex) {
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("x")));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));  // lower case only, as Sha256Hex writes it
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'g')));
}

TEST(Artifact, ModelRefIsCheckedFieldByField) {
  const std::string sha = Sha256Hex("model");
  const nlohmann::json good = {{"name", "fan-mlp"}, {"version", 3},        {"size", 120},
                               {"sha256", sha},     {"signature", "c2ln"}, {"stage", "production"}};
  auto ref = ParseModelRef(good, "fan-mlp");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->name, "fan-mlp");
  EXPECT_EQ(ref->version, 3);
  EXPECT_EQ(ref->claim.size, 120);
  EXPECT_EQ(ref->claim.sha256, sha);
  EXPECT_EQ(ref->claim.signature, "c2ln");
  EXPECT_EQ(ParseModelRef(good, "other").error(), errc::parse_error);
  for (auto [key, value] :
       std::initializer_list<std::pair<const char*, nlohmann::json>>{{"name", 5},
                                                                     {"version", "3"},
                                                                     {"version", 0},
                                                                     {"version", 1.5},
                                                                     {"size", -1},
                                                                     {"size", nullptr},
                                                                     {"sha256", "ab"},
                                                                     {"sha256", 7},
                                                                     {"signature", ""},
                                                                     {"signature", true},
                                                                     {"size", 1e30}}) {
    nlohmann::json bad = good;
    bad[key] = value;
    EXPECT_FALSE(ParseModelRef(bad, "fan-mlp").ok()) << key << "=" << value.dump();
  }
  EXPECT_FALSE(ParseModelRef(nlohmann::json::array(), "fan-mlp").ok());
  EXPECT_FALSE(ParseModelRef(nlohmann::json("x"), "fan-mlp").ok());
}

TEST(File, WriteFileAtomicReplacesWholeFiles) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("aiot-file-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "f").string();
  ASSERT_TRUE(WriteFileAtomic(path, "first").ok());
  EXPECT_EQ(*ReadWholeFile(path), "first");
  const std::string big(1 << 20, 'b');
  ASSERT_TRUE(WriteFileAtomic(path, big).ok());
  EXPECT_EQ(*ReadWholeFile(path), big);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const std::string missing = (dir / "missing" / "f").string();
  const Status st = WriteFileAtomic(missing, "x");
  EXPECT_EQ(st.error(), errc::io_error);
  // The message names the file and why.
  EXPECT_EQ(st.message(), "cannot create " + missing + ".tmp: No such file or directory");
  std::filesystem::remove_all(dir);
}

TEST(File, ReadWholeFileReadsBytesAndNamesAMissingFile) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("aiot-read-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "bin").string();
  const std::string bytes("a\0b\r\n\xff", 6);
  ASSERT_TRUE(WriteFileAtomic(path, bytes).ok());
  EXPECT_EQ(*ReadWholeFile(path), bytes);
  const auto missing = ReadWholeFile((dir / "nope").string());
  EXPECT_EQ(missing.error(), errc::not_found);
  EXPECT_EQ(missing.status().message(),
            "cannot open " + (dir / "nope").string() + ": No such file or directory");
  EXPECT_EQ(ReadWholeFile(dir.string()).error(), errc::io_error);  // a directory opens, reads fail
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aiot
