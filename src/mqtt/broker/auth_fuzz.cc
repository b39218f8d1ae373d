// libFuzzer target for the password file and ACL file parsers (auth.h). The first byte picks the
// parser; a parsed ACL is also queried, a parsed password file checked (iterations are capped
// here so that a fuzzed $7$ line cannot stall the run).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mqtt/broker/auth.h"

using aiot::mqtt::broker::AclFile;
using aiot::mqtt::broker::kAccessRead;
using aiot::mqtt::broker::kAccessWrite;
using aiot::mqtt::broker::PasswordFile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto f = PasswordFile::Parse(text);
    if (f.ok() && f->size() > 0 && text.find("$7$") == std::string_view::npos) {
      (void)f->Check("alice", "secret");
    }
  } else {
    auto acl = AclFile::Parse(text);
    if (acl.ok()) {
      std::optional<std::string> user = std::string("alice");
      (void)acl->Check("client-1", user, "a/b/c", kAccessRead);
      (void)acl->Check("client-1", std::nullopt, "$SYS/x", kAccessWrite);
      (void)acl->CheckSubscribe("client-1", user, "a/+/#");
      (void)acl->CheckSubscribe("+", std::nullopt, "#");
    }
  }
  return 0;
}
