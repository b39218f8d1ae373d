#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "base/errc.h"
#include "ml/data/dataset.h"
#include "tests/support/run.h"

namespace aiot::ml::testing {

// The shared data folder (../shared/data from the source tree), or "" when it is absent.
inline std::string SharedData(const std::string& relative) {
  const char* src = std::getenv("AIOT_SOURCE_DIR");
  std::filesystem::path base = src ? std::filesystem::path(src) : std::filesystem::current_path();
  auto p = base / ".." / "shared" / "data" / relative;
  return std::filesystem::exists(p) ? p.string() : std::string();
}

// fan.csv (the reference data: label Faulty, DeviceID and Time dropped) loaded as the tests use
// it; errc::not_found when ../shared/data is absent (callers skip then).
inline Result<Dataset> LoadFanCsv() {
  const std::string path = SharedData("fan-pdm/fan.csv");
  if (path.empty()) return Status(errc::not_found, "../shared/data/fan-pdm/fan.csv not found");
  DatasetSchema schema;
  schema.label = "Faulty";
  schema.drop = {"DeviceID", "Time"};
  return LoadDataset(path, schema);
}

inline std::string SourceDir() {
  const char* src = std::getenv("AIOT_SOURCE_DIR");
  return src ? src : AIOT_TEST_SOURCE_DIR;
}

// A scratch directory under the build tree for files a test writes, one per process: ctest runs
// the tests of one fixture in parallel processes, which must not rewrite each other's files.
inline std::string ScratchDir(const std::string& name) {
  const char* bin = std::getenv("AIOT_BINARY_DIR");
  std::filesystem::path base =
      bin ? std::filesystem::path(bin) : std::filesystem::temp_directory_path();
  auto p = base / "ml-scratch" / (name + "-" + std::to_string(getpid()));
  std::filesystem::create_directories(p);
  return p.string();
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

inline void WriteBytes(const std::string& path, const void* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// Runs a shell command, returns its exit status and stdout.
inline int Run(const std::string& cmd, std::string* out) {
  auto r = test_support::RunCommand(cmd, test_support::Capture::kStdout);
  *out = std::move(r.output);
  return r.exit_code;
}

}  // namespace aiot::ml::testing
