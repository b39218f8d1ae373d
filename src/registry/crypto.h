#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

// Cryptography the platform needs, on OpenSSL 3: Ed25519 artifact signatures, SHA-256, salted
// password hashes (PBKDF2-HMAC-SHA256), random tokens and base64. All functions are thread-safe.
namespace aiot::registry {

// The platform's Ed25519 key pair.
class SigningKey {
 public:
  // Loads the PEM private key at `path`, or generates one and writes it there with mode 0600
  // (the parent directory must exist). Refuses a key file readable by group or others.
  static Result<SigningKey> LoadOrCreate(const std::string& path);
  static Result<SigningKey> Generate();

  // The raw 64-byte Ed25519 signature of `message`.
  std::string Sign(std::string_view message) const;
  // The public key as PEM ("-----BEGIN PUBLIC KEY-----", SubjectPublicKeyInfo).
  std::string PublicKeyPem() const;

 private:
  struct Free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  std::shared_ptr<EVP_PKEY> key_;
};

// Artifact signatures are Ed25519 over the ASCII lowercase hex SHA-256 of the artifact (64 bytes),
// so a device can hash while it streams the download and verify at the end. On the wire the
// signature is standard base64 (with padding).
std::string SignArtifactDigest(const SigningKey& key, std::string_view sha256_hex);

// True when `signature_b64` is a valid signature of `sha256_hex` by the key in
// `public_key_pem`. This is what a device runs before activating a downloaded model.
bool VerifyArtifactDigest(std::string_view public_key_pem, std::string_view sha256_hex,
                          std::string_view signature_b64);

// Hashes `data` and verifies both the digest against `expected_sha256_hex` and the signature.
// Returns errc::corrupted when the digest differs, errc::permission_denied on a bad signature.
Status VerifyArtifact(std::string_view public_key_pem, std::string_view data,
                      std::string_view expected_sha256_hex, std::string_view signature_b64);

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  // Lowercase hex digest; the object is spent afterwards.
  std::string FinishHex();

 private:
  EVP_MD_CTX* ctx_;
};

std::string Sha256Hex(std::string_view data);

std::string Base64Encode(std::string_view data);
// Returns false on malformed input.
bool Base64Decode(std::string_view text, std::string* out);

// `n` cryptographically random bytes as lowercase hex (2n characters).
std::string RandomHex(size_t n);

// "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>" with a random 16-byte salt.
std::string HashPassword(std::string_view password, int iterations = 100000);
// Constant-time comparison against a HashPassword() string.
bool VerifyPassword(std::string_view password, std::string_view encoded);

}  // namespace aiot::registry
