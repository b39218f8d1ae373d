#include "base/artifact.h"

#include <cctype>

#include "base/errc.h"
#include "base/json.h"
#include "base/sha256.h"

namespace aiot {

bool IsValidModelName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return name.find("..") == std::string_view::npos;
}

Result<ModelRef> ParseModelRef(const nlohmann::json& reply, std::string_view expected_name) {
  ModelRef ref;
  ref.name = json::StringOr(reply, "name", "");
  ref.version = json::Int(reply, "version").value_or(-1);
  ref.claim.size = json::Int(reply, "size").value_or(-1);
  ref.claim.sha256 = json::StringOr(reply, "sha256", "");
  ref.claim.signature = json::StringOr(reply, "signature", "");
  if (ref.name != expected_name || ref.version < 1 || ref.claim.size < 1 ||
      !IsSha256Hex(ref.claim.sha256) || ref.claim.signature.empty()) {
    return errc::parse_error;
  }
  return ref;
}

}  // namespace aiot
