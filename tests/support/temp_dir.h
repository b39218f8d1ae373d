#pragma once

// A temporary directory for a test, removed with everything in it at the end of its scope.
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace aiot::test_support {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "aiot-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace aiot::test_support
