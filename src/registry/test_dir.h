#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace aiot::registry {

// A fresh directory under $TMPDIR, removed with everything in it at scope exit.
class TestDir {
 public:
  TestDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "aiot-registry-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TestDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace aiot::registry
