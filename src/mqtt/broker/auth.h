#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"

// Authentication and authorization of broker clients, as a Mosquitto user expects them:
// `password_file` in the format `mosquitto_passwd` writes, `acl_file` in Mosquitto's acl_file
// format, and a hook (`Authenticator`) for other credential stores (e.g. the device registry).
// Sans-I/O apart from reading the two files (the parsers take text: the fuzz target links them).
namespace aiot::mqtt::broker {

// ---- Password file ------------------------------------------------------------------------------

// One line of a Mosquitto password file:
//   user:$7$<iterations>$<salt base64>$<hash base64>   PBKDF2-HMAC-SHA512 (mosquitto_passwd 2.x)
//   user:$6$<salt base64>$<hash base64>                SHA-512(password || salt) (1.x)
struct PasswordEntry {
  enum class Kind { kSha512, kPbkdf2Sha512 };
  Kind kind = Kind::kPbkdf2Sha512;
  int iterations = 0;
  std::string salt;  // raw bytes
  std::string hash;  // raw bytes
};

class PasswordFile {
 public:
  // Parses the file's text. Blank lines and lines starting with '#' are skipped. A line that is
  // not `user:$6$...` or `user:$7$...` is an errc::parse_error whose message says which ("line 3:
  // ..."). Load: errc::not_found / io_error when the file cannot be read; parse errors are
  // prefixed with the path.
  static Result<PasswordFile> Parse(std::string_view text);
  static Result<PasswordFile> Load(const std::string& path);

  bool Contains(std::string_view user) const;
  // True when `user` is in the file and `password` hashes to its entry (constant-time compare).
  bool Check(std::string_view user, std::string_view password) const;
  size_t size() const { return users_.size(); }

 private:
  std::unordered_map<std::string, PasswordEntry> users_;
};

// ---- ACL file -----------------------------------------------------------------------------------

enum Access : unsigned { kAccessNone = 0, kAccessRead = 1, kAccessWrite = 2 };

struct AclRule {
  unsigned access = kAccessRead | kAccessWrite;  // kAccessNone: `deny`
  std::string filter;
  bool pattern = false;  // `pattern` line: %c and %u are substituted
};

// Mosquitto's acl_file:
//   # comment
//   topic [read|write|readwrite|deny] <filter>     before any `user` line: anonymous clients
//   user <username>
//   topic [read|write|readwrite|deny] <filter>     for that user
//   pattern [read|write|readwrite|deny] <filter>   every client; %c = client id, %u = username
// Access defaults to readwrite. A `deny` rule that matches wins over any grant. A pattern does not
// apply when the substituted client id / username contains '+', '#' or '/' (as in Mosquitto 2),
// nor %u for anonymous clients. With an ACL file, anything not granted is denied.
class AclFile {
 public:
  // Errors as PasswordFile's: errc::parse_error with "line N: ..." (prefixed with the path by
  // Load), errc::not_found / io_error.
  static Result<AclFile> Parse(std::string_view text);
  static Result<AclFile> Load(const std::string& path);

  // May the client publish to `topic` (kAccessWrite) / receive a message on `topic`
  // (kAccessRead)? `username` is nullopt for anonymous clients.
  bool Check(std::string_view client_id, const std::optional<std::string>& username,
             std::string_view topic, unsigned access) const;
  // May the client subscribe to `filter` (a valid topic filter, without `$share/<group>/`)? Yes
  // when a read rule's filter covers every topic `filter` can match and no deny rule does; topics
  // of a covered filter that a deny rule matches are still filtered on delivery.
  bool CheckSubscribe(std::string_view client_id, const std::optional<std::string>& username,
                      std::string_view filter) const;

 private:
  template <typename Fn>
  void ForEachRule(std::string_view client_id, const std::optional<std::string>& username,
                   Fn&& fn) const;

  std::vector<AclRule> anonymous_;
  std::unordered_map<std::string, std::vector<AclRule>> users_;
  std::vector<AclRule> patterns_;
};

// True when every topic `inner` can match is matched by `outer` (both valid topic filters).
bool FilterCovers(std::string_view outer, std::string_view inner);

// ---- The broker's view --------------------------------------------------------------------------

// A CONNECT as authentication sees it.
struct AuthRequest {
  std::string_view client_id;
  std::optional<std::string_view> username;  // nullopt: anonymous
  std::optional<std::string_view> password;
  std::string_view listener;  // "address:port" the client connected to
};

enum class AuthResult {
  kAllow,
  kBadCredentials,  // CONNACK 0x86 Bad User Name or Password (3.1.1: 4)
  kNotAuthorized,   // CONNACK 0x87 Not Authorized (3.1.1: 5)
  kUnknownUser,     // this store does not know the user: ask the next one
};

// A credential store the broker asks for a client with a username that is not in the password
// file. Called on the connection's broker core, synchronously: keep it fast (the device
// registry's PBKDF2 check costs a few tens of milliseconds, acceptable at connect rates).
// Must be thread-safe (every core calls it).
using Authenticator = std::function<AuthResult(const AuthRequest&)>;

struct AuthConfig {
  std::string password_file;
  std::string acl_file;
};

// The loaded files plus the optional external authenticator. Immutable once built: a reload
// builds a new one and swaps the pointer.
class AuthPolicy {
 public:
  // Loads the configured files; the error of the first that fails (its message names the file).
  static Result<std::shared_ptr<const AuthPolicy>> Load(const AuthConfig& config,
                                                        Authenticator external);

  // For a client with a username (anonymous clients are the listener's decision):
  // kUnknownUser when no credential store is configured at all (the client is then treated as
  // anonymous, as Mosquitto does without a password file).
  AuthResult Authenticate(const AuthRequest& r) const;
  bool has_credential_store() const { return passwords_.has_value() || external_ != nullptr; }
  // ACLs (everything allowed without an acl_file).
  bool has_acl() const { return acl_.has_value(); }
  const AclFile* acl() const { return acl_ ? &*acl_ : nullptr; }

 private:
  std::optional<PasswordFile> passwords_;
  std::optional<AclFile> acl_;
  Authenticator external_;
};

}  // namespace aiot::mqtt::broker
