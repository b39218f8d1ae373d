#include "net/auth.h"

#include "base/config.h"

namespace aiot::net {

namespace {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

std::vector<std::string> SplitRoles(std::string_view csv) {
  std::vector<std::string> out;
  while (!csv.empty()) {
    size_t comma = csv.find(',');
    std::string_view r = csv.substr(0, comma);
    csv = comma == std::string_view::npos ? std::string_view() : csv.substr(comma + 1);
    while (!r.empty() && r.front() == ' ') r.remove_prefix(1);
    while (!r.empty() && r.back() == ' ') r.remove_suffix(1);
    if (!r.empty()) out.emplace_back(r);
  }
  return out;
}

}  // namespace

StaticTokenAuthenticator::StaticTokenAuthenticator(
    const std::map<std::string, std::string>& tokens,
    const std::map<std::string, std::string>& roles) {
  for (const auto& [name, token] : tokens) {
    if (token.empty()) continue;  // would match no bearer token anyway
    Entry e;
    e.token = token;
    e.principal.name = name;
    auto r = roles.find(name);
    if (r != roles.end()) e.principal.roles = SplitRoles(r->second);
    entries_.push_back(std::move(e));
  }
}

std::optional<Principal> StaticTokenAuthenticator::Authenticate(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  const Entry* found = nullptr;
  size_t matches = 0;
  for (const auto& e : entries_) {
    if (ConstantTimeEquals(e.token, token)) {
      found = &e;
      ++matches;
    }
  }
  // A token shared by two principals (refused at load) says nothing about who is calling.
  if (matches != 1) return std::nullopt;
  return found->principal;
}

void ValidateTokens(config::Checks& checks, const std::map<std::string, std::string>& tokens,
                    const std::map<std::string, std::string>& roles, std::string_view tokens_key,
                    std::string_view roles_key) {
  std::map<std::string_view, std::string_view> owner;  // token -> first principal with it
  for (const auto& [name, token] : tokens) {
    const std::string key = std::string(tokens_key) + "." + name;
    if (token.empty()) {
      checks.Fail(key, "is empty; set a secret");
      continue;
    }
    auto [first, inserted] = owner.emplace(token, name);
    if (!inserted) {
      checks.Fail(key, "is the token of `" + std::string(first->second) +
                           "` too; give each principal its own");
    }
  }
  for (const auto& [name, _] : roles) {
    if (tokens.find(name) == tokens.end()) {
      checks.Fail(std::string(roles_key) + "." + name,
                  "names a principal with no token in " + std::string(tokens_key));
    }
  }
}

std::string_view BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return {};
  }
  std::string_view t = authorization.substr(kScheme.size());
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  return t;
}

}  // namespace aiot::net
