#include "app/admin_token.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace aiot::app {
namespace {

std::filesystem::path TempDir(const char* name) {
  auto dir = std::filesystem::temp_directory_path() /
             (std::string("aiot_admin_token_") + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(AdminToken, CreatedOncePrivateAndReused) {
  auto dir = TempDir("create") / "nested";
  auto first = LoadOrCreateAdminToken(dir);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(first->rfind("aiot_", 0), 0u);
  EXPECT_EQ(first->size(), 5u + 64u);
  struct stat st {};
  ASSERT_EQ(stat((dir / kAdminTokenFile).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto second = LoadOrCreateAdminToken(dir);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, *first);
  // No temporary files are left behind.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);
  // Another directory gets another token.
  auto other = LoadOrCreateAdminToken(TempDir("other"));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *first);
  std::filesystem::remove_all(dir.parent_path());
  std::filesystem::remove_all(TempDir("other"));
}

TEST(AdminToken, AnOperatorsOwnTokenFileIsKept) {
  auto dir = TempDir("own");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / kAdminTokenFile) << "my-own-long-secret-token\n";
  auto t = LoadOrCreateAdminToken(dir);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "my-own-long-secret-token");
  std::filesystem::remove_all(dir);
}

TEST(AdminToken, ABadTokenFileIsAnErrorNotASilentNewToken) {
  auto dir = TempDir("bad");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / kAdminTokenFile) << "short\n";
  EXPECT_FALSE(LoadOrCreateAdminToken(dir).ok());
  std::ofstream(dir / kAdminTokenFile, std::ios::trunc) << "";
  EXPECT_FALSE(LoadOrCreateAdminToken(dir).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aiot::app
