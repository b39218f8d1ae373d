#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "net/http.h"

namespace aiot::net {

// Turns a bearer token into a principal. Called on every io_context thread concurrently, so
// implementations must be thread-safe; called only for routes that require auth (and, when a
// token is presented, on other routes too so that handlers can see the caller).
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The principal for `token`, or nullopt to reject (401).
  virtual std::optional<Principal> Authenticate(std::string_view token) const = 0;
};

// Tokens from configuration: `tokens` maps a principal name to its secret token, `roles` maps a
// principal name to comma-separated roles ("admin,operator"). Tokens are compared in constant
// time. Immutable after construction, so thread-safe. The configuration loader refuses an empty
// token, a token shared by two principals and roles for an unknown principal (ValidateTokens, run
// by HttpServerConfig's Validate); given them anyway, the authenticator does not throw: an empty
// token and a shared token authenticate no one, and roles without a token are ignored.
class StaticTokenAuthenticator : public Authenticator {
 public:
  StaticTokenAuthenticator(const std::map<std::string, std::string>& tokens,
                           const std::map<std::string, std::string>& roles);
  std::optional<Principal> Authenticate(std::string_view token) const override;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string token;
    Principal principal;
  };
  std::vector<Entry> entries_;
};

// Reports to `checks` an empty token, a token shared by two principals, and roles for a principal
// without a token, under the keys `tokens_key`.<name> and `roles_key`.<name>.
void ValidateTokens(config::Checks& checks, const std::map<std::string, std::string>& tokens,
                    const std::map<std::string, std::string>& roles,
                    std::string_view tokens_key = "auth_tokens",
                    std::string_view roles_key = "auth_roles");

// The token of an `Authorization: Bearer <token>` header value, or empty.
std::string_view BearerToken(std::string_view authorization);

}  // namespace aiot::net
