#include "mqtt/broker/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/errc.h"
#include "base/file.h"
#include "mqtt/protocol/topic.h"

namespace aiot::mqtt::broker {

namespace {

constexpr int kMaxIterations = 100'000'000;

// The error of a parser: errc::parse_error "line <n>: <what>".
Status LineError(size_t line, std::string_view what) {
  return Status(errc::parse_error, "line " + std::to_string(line) + ": " + std::string(what));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Calls fn(line_number, line) for each line, without the line break.
template <typename Fn>
bool ForEachLine(std::string_view text, Fn&& fn) {
  size_t n = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!fn(++n, line)) return false;
  }
  return true;
}

// Standard base64 with padding, as mosquitto_passwd writes it.
bool DecodeBase64(std::string_view in, std::string* out) {
  if (in.empty() || in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || (c == '=' && i + 2 >= in.size());
    if (!ok) return false;
  }
  size_t pad = in.back() == '=' ? (in[in.size() - 2] == '=' ? 2 : 1) : 0;
  if (pad == 1 && in[in.size() - 2] == '=') return false;
  out->assign(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return false;
  out->resize(static_cast<size_t>(n) - pad);
  return true;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t p = s.find(sep);
    parts.push_back(s.substr(0, p));
    if (p == std::string_view::npos) break;
    s.remove_prefix(p + 1);
  }
  return parts;
}

// Reads `path` and parses it with `parse`; a parse error's message is prefixed with the path.
template <typename T, typename Parse>
Result<T> LoadFile(const std::string& path, Parse&& parse) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  Result<T> f = parse(*text);
  if (!f.ok()) return f.status().Prefix(path);
  return f;
}

// A %c / %u value usable in a pattern: not empty, no wildcard or level separator.
bool SafeForPattern(std::string_view v) {
  return !v.empty() && v.find_first_of("+#/") == std::string_view::npos;
}

}  // namespace

// ---- PasswordFile -------------------------------------------------------------------------------

Result<PasswordFile> PasswordFile::Parse(std::string_view text) {
  PasswordFile f;
  Status status;
  bool ok = ForEachLine(text, [&](size_t n, std::string_view raw) {
    std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#') return true;
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      status = LineError(n, "expected user:$7$<iterations>$<salt>$<hash>");
      return false;
    }
    std::string_view user = line.substr(0, colon);
    std::string_view rest = line.substr(colon + 1);
    std::vector<std::string_view> parts = Split(rest, '$');
    PasswordEntry e;
    std::string_view salt_b64, hash_b64;
    if (parts.size() == 4 && parts[0].empty() && parts[1] == "6") {
      e.kind = PasswordEntry::Kind::kSha512;
      salt_b64 = parts[2];
      hash_b64 = parts[3];
    } else if (parts.size() == 5 && parts[0].empty() && parts[1] == "7") {
      e.kind = PasswordEntry::Kind::kPbkdf2Sha512;
      std::string_view it = parts[2];
      if (it.empty() || it.size() > 9 ||
          it.find_first_not_of("0123456789") != std::string_view::npos) {
        status = LineError(n, "bad iteration count");
        return false;
      }
      e.iterations = std::stoi(std::string(it));
      if (e.iterations < 1 || e.iterations > kMaxIterations) {
        status = LineError(n, "iteration count out of range");
        return false;
      }
      salt_b64 = parts[3];
      hash_b64 = parts[4];
    } else {
      status =
          LineError(n, "not a $6$ or $7$ password hash (create the file with mosquitto_passwd)");
      return false;
    }
    if (!DecodeBase64(salt_b64, &e.salt) || !DecodeBase64(hash_b64, &e.hash) ||
        e.hash.size() != 64) {
      status = LineError(n, "bad base64 salt or hash");
      return false;
    }
    f.users_[std::string(user)] = std::move(e);  // a later line for the same user wins
    return true;
  });
  if (!ok) return status;
  return f;
}

Result<PasswordFile> PasswordFile::Load(const std::string& path) {
  return LoadFile<PasswordFile>(path, [](std::string_view text) { return Parse(text); });
}

bool PasswordFile::Contains(std::string_view user) const {
  return users_.contains(std::string(user));
}

bool PasswordFile::Check(std::string_view user, std::string_view password) const {
  auto it = users_.find(std::string(user));
  if (it == users_.end()) return false;
  const PasswordEntry& e = it->second;
  unsigned char out[64];
  if (e.kind == PasswordEntry::Kind::kPbkdf2Sha512) {
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(e.salt.data()),
                          static_cast<int>(e.salt.size()), e.iterations, EVP_sha512(), sizeof out,
                          out) != 1)
      return false;
  } else {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) == 1 &&
              EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
              EVP_DigestUpdate(ctx, e.salt.data(), e.salt.size()) == 1 &&
              EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == sizeof out;
    EVP_MD_CTX_free(ctx);
    if (!ok) return false;
  }
  return CRYPTO_memcmp(out, e.hash.data(), sizeof out) == 0;
}

// ---- AclFile ------------------------------------------------------------------------------------

Result<AclFile> AclFile::Parse(std::string_view text) {
  AclFile f;
  Status status;
  std::vector<AclRule>* current = &f.anonymous_;
  bool ok = ForEachLine(text, [&](size_t n, std::string_view raw) {
    std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#') return true;
    size_t sp = line.find_first_of(" \t");
    std::string_view keyword = line.substr(0, sp);
    std::string_view rest = sp == std::string_view::npos ? "" : Trim(line.substr(sp));
    if (keyword == "user") {
      if (rest.empty()) {
        status = LineError(n, "`user` without a name");
        return false;
      }
      current = &f.users_[std::string(rest)];
      return true;
    }
    if (keyword != "topic" && keyword != "pattern") {
      status = LineError(n, "expected `user`, `topic` or `pattern`");
      return false;
    }
    AclRule rule;
    rule.pattern = keyword == "pattern";
    size_t sp2 = rest.find_first_of(" \t");
    std::string_view word = rest.substr(0, sp2);
    std::string_view after = sp2 == std::string_view::npos ? "" : Trim(rest.substr(sp2));
    if (!after.empty()) {  // `topic <access> <filter>`
      if (word == "read") {
        rule.access = kAccessRead;
      } else if (word == "write") {
        rule.access = kAccessWrite;
      } else if (word == "readwrite") {
        rule.access = kAccessRead | kAccessWrite;
      } else if (word == "deny") {
        rule.access = kAccessNone;
      } else {
        after = rest;  // a filter with a space in it, access defaults to readwrite
      }
      rest = after;
    }
    if (rest.empty()) {
      status = LineError(n, "rule without a topic filter");
      return false;
    }
    rule.filter = std::string(rest);
    // Substitutions are checked after expansion; a literal filter must be valid now.
    if (!rule.pattern && ValidateTopicFilter(rule.filter) != ReasonCode::kSuccess) {
      status = LineError(n, "invalid topic filter `" + rule.filter + "`");
      return false;
    }
    (rule.pattern ? f.patterns_ : *current).push_back(std::move(rule));
    return true;
  });
  if (!ok) return status;
  return f;
}

Result<AclFile> AclFile::Load(const std::string& path) {
  return LoadFile<AclFile>(path, [](std::string_view text) { return Parse(text); });
}

// Calls fn(access, filter) for every rule that applies to the client, with patterns expanded.
template <typename Fn>
void AclFile::ForEachRule(std::string_view client_id, const std::optional<std::string>& username,
                          Fn&& fn) const {
  const std::vector<AclRule>* own = &anonymous_;
  if (username) {
    auto it = users_.find(*username);
    own = it == users_.end() ? nullptr : &it->second;
  }
  if (own != nullptr) {
    for (const AclRule& r : *own) fn(r.access, std::string_view(r.filter));
  }
  std::string expanded;
  for (const AclRule& r : patterns_) {
    expanded.clear();
    bool usable = true;
    for (size_t i = 0; i < r.filter.size(); ++i) {
      if (r.filter[i] == '%' && i + 1 < r.filter.size() &&
          (r.filter[i + 1] == 'c' || r.filter[i + 1] == 'u')) {
        std::string_view v = r.filter[i + 1] == 'c' ? client_id
                             : username             ? std::string_view(*username)
                                                    : std::string_view();
        if (!SafeForPattern(v)) {
          usable = false;
          break;
        }
        expanded.append(v);
        ++i;
      } else {
        expanded.push_back(r.filter[i]);
      }
    }
    if (usable && ValidateTopicFilter(expanded) == ReasonCode::kSuccess)
      fn(r.access, std::string_view(expanded));
  }
}

bool AclFile::Check(std::string_view client_id, const std::optional<std::string>& username,
                    std::string_view topic, unsigned access) const {
  bool denied = false, granted = false;
  ForEachRule(client_id, username, [&](unsigned a, std::string_view filter) {
    if (denied || !TopicMatches(filter, topic)) return;
    if (a == kAccessNone) {
      denied = true;
    } else if ((a & access) == access) {
      granted = true;
    }
  });
  return granted && !denied;
}

bool AclFile::CheckSubscribe(std::string_view client_id, const std::optional<std::string>& username,
                             std::string_view filter) const {
  bool denied = false, granted = false;
  ForEachRule(client_id, username, [&](unsigned a, std::string_view rule) {
    if (denied || !FilterCovers(rule, filter)) return;
    if (a == kAccessNone) {
      denied = true;
    } else if (a & kAccessRead) {
      granted = true;
    }
  });
  return granted && !denied;
}

bool FilterCovers(std::string_view outer, std::string_view inner) {
  // The `$` rule: a filter starting with a wildcard does not match `$` topics [MQTT-4.7.2-1].
  bool inner_dollar = !inner.empty() && inner.front() == '$';
  bool outer_wild_first = !outer.empty() && (outer.front() == '+' || outer.front() == '#');
  if (inner_dollar && outer_wild_first) return false;
  std::vector<std::string_view> o = Split(outer, '/');
  std::vector<std::string_view> i = Split(inner, '/');
  for (size_t k = 0; k < o.size(); ++k) {
    if (o[k] == "#") return true;  // covers this level and everything below (and the parent)
    if (k >= i.size()) return false;
    if (i[k] == "#") return false;  // inner goes deeper than any non-# outer level
    if (o[k] == "+") continue;      // covers a literal level or `+`
    if (i[k] == "+" || o[k] != i[k]) return false;
  }
  return o.size() == i.size();
}

// ---- AuthPolicy ---------------------------------------------------------------------------------

Result<std::shared_ptr<const AuthPolicy>> AuthPolicy::Load(const AuthConfig& config,
                                                           Authenticator external) {
  auto p = std::make_shared<AuthPolicy>();
  if (!config.password_file.empty()) {
    auto f = PasswordFile::Load(config.password_file);
    if (!f.ok()) return f.status();
    p->passwords_ = std::move(*f);
  }
  if (!config.acl_file.empty()) {
    auto f = AclFile::Load(config.acl_file);
    if (!f.ok()) return f.status();
    p->acl_ = std::move(*f);
  }
  p->external_ = std::move(external);
  return std::shared_ptr<const AuthPolicy>(std::move(p));
}

AuthResult AuthPolicy::Authenticate(const AuthRequest& r) const {
  if (!has_credential_store()) return AuthResult::kUnknownUser;
  std::string_view password = r.password.value_or(std::string_view());
  if (passwords_ && r.username && passwords_->Contains(*r.username)) {
    return r.password && passwords_->Check(*r.username, password) ? AuthResult::kAllow
                                                                  : AuthResult::kBadCredentials;
  }
  if (external_) {
    AuthResult res = external_(r);
    if (res != AuthResult::kUnknownUser) return res;
  }
  return AuthResult::kBadCredentials;
}

}  // namespace aiot::mqtt::broker
