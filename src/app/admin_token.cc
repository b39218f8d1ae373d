#include "app/admin_token.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>

#include "base/errc.h"
#include "base/file.h"

namespace aiot::app {

namespace {

constexpr size_t kTokenBytes = 32;

bool ValidToken(const std::string& t) {
  if (t.size() < 16) return false;
  for (char c : t) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

Result<std::string> ReadToken(const std::filesystem::path& file) {
  auto token = ReadFirstLine(file.string());
  if (!token.ok()) return token.status();
  if (!ValidToken(*token)) return errc::invalid_argument;
  return token;
}

}  // namespace

Result<std::string> LoadOrCreateAdminToken(const std::filesystem::path& dir) {
  const auto file = dir / kAdminTokenFile;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ec;
  if (std::filesystem::exists(file, ec)) return ReadToken(file);

  std::array<unsigned char, kTokenBytes> raw{};
  size_t got = 0;
  while (got < raw.size()) {
    ssize_t n = getrandom(raw.data() + got, raw.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::error_code(errno, std::generic_category());
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token = "aiot_";
  for (unsigned char b : raw) {
    token.push_back(kHex[b >> 4]);
    token.push_back(kHex[b & 15]);
  }
  // O_EXCL: two processes starting at once agree on the first file written.
  const auto tmp = dir / (std::string(kAdminTokenFile) + ".tmp." + std::to_string(getpid()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return std::error_code(errno, std::generic_category());
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::link(tmp.c_str(), file.c_str()) != 0) {
    int err = errno;
    std::filesystem::remove(tmp, ec);
    if (err == EEXIST) return ReadToken(file);
    return std::error_code(err ? err : EIO, std::generic_category());
  }
  std::filesystem::remove(tmp, ec);
  return token;
}

}  // namespace aiot::app
