#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace aiot::ml::testing {

// The shared data folder (../shared/data from the source tree), or "" when it is absent.
inline std::string SharedData(const std::string& relative) {
  const char* src = std::getenv("AIOT_SOURCE_DIR");
  std::filesystem::path base = src ? std::filesystem::path(src) : std::filesystem::current_path();
  auto p = base / ".." / "shared" / "data" / relative;
  return std::filesystem::exists(p) ? p.string() : std::string();
}

// A scratch directory under the build tree for files a test writes.
inline std::string ScratchDir(const std::string& name) {
  const char* bin = std::getenv("AIOT_BINARY_DIR");
  std::filesystem::path base =
      bin ? std::filesystem::path(bin) : std::filesystem::temp_directory_path();
  auto p = base / "ml-scratch" / name;
  std::filesystem::create_directories(p);
  return p.string();
}

}  // namespace aiot::ml::testing
