#include "registry/crypto.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "base/check.h"
#include "base/errc.h"
#include "base/log.h"

namespace aiot::registry {
namespace {

std::string ToHex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 15];
  }
  return s;
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

Result<SigningKey> SigningKey::Generate() {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!raw) return errc::internal;
  SigningKey k;
  k.key_.reset(raw, Free());
  return k;
}

Result<SigningKey> SigningKey::LoadOrCreate(const std::string& path) {
  auto log = log::Get("registry");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (st.st_mode & 077) {
      log->error("signing key {} is readable by group/others (mode {:o}); chmod 600 it", path,
                 st.st_mode & 0777);
      return errc::permission_denied;
    }
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return errc::io_error;
    EVP_PKEY* raw = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!raw || EVP_PKEY_get_base_id(raw) != EVP_PKEY_ED25519) {
      EVP_PKEY_free(raw);
      log->error("signing key {} is not an Ed25519 PEM private key", path);
      return errc::corrupted;
    }
    SigningKey k;
    k.key_.reset(raw, Free());
    return k;
  }
  auto k = Generate();
  if (!k.ok()) return k;
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errc::io_error;
  FILE* f = ::fdopen(fd, "w");
  bool ok = f && PEM_write_PrivateKey(f, k->key_.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = ok && std::fflush(f) == 0 && ::fsync(fd) == 0;
  if (f) std::fclose(f);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return errc::io_error;
  }
  log->info("generated platform signing key {}", path);
  return k;
}

std::string SigningKey::Sign(std::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  size_t len = sig.size();
  bool ok =
      EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1 &&
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return {};
  sig.resize(len);
  return sig;
}

std::string SigningKey::PublicKeyPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key_.get());
  std::string s = BioToString(bio);
  BIO_free(bio);
  return s;
}

std::string SignArtifactDigest(const SigningKey& key, std::string_view sha256_hex) {
  return Base64Encode(key.Sign(sha256_hex));
}

bool VerifyArtifactDigest(std::string_view public_key_pem, std::string_view sha256_hex,
                          std::string_view signature_b64) {
  std::string sig;
  if (!Base64Decode(signature_b64, &sig) || sig.size() != 64) return false;
  BIO* bio = BIO_new_mem_buf(public_key_pem.data(), static_cast<int>(public_key_pem.size()));
  EVP_PKEY* pub = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!pub) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_PKEY_get_base_id(pub) == EVP_PKEY_ED25519 &&
            EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pub) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(sha256_hex.data()),
                             sha256_hex.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pub);
  return ok;
}

Status VerifyArtifact(std::string_view public_key_pem, std::string_view data,
                      std::string_view expected_sha256_hex, std::string_view signature_b64) {
  std::string digest = Sha256Hex(data);
  if (digest != expected_sha256_hex) return errc::corrupted;
  if (!VerifyArtifactDigest(public_key_pem, digest, signature_b64)) return errc::permission_denied;
  return Status::Ok();
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }
void Sha256::Update(std::string_view data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }
std::string Sha256::FinishHex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_, md, &n);
  return ToHex(md, n);
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.FinishHex();
}

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  if (text.size() % 4 != 0) return false;
  out->assign(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return false;
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock keeps the zero bytes that stand for '=' padding; drop them.
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out->resize(len);
  return true;
}

std::string RandomHex(size_t n) {
  std::vector<unsigned char> buf(n);
  AIOT_CHECK(RAND_bytes(buf.data(), static_cast<int>(n)) == 1, "RAND_bytes failed");
  return ToHex(buf.data(), n);
}

std::string HashPassword(std::string_view password, int iterations) {
  unsigned char salt[16];
  RAND_bytes(salt, sizeof(salt));
  unsigned char out[32];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt, sizeof(salt),
                    iterations, EVP_sha256(), sizeof(out), out);
  return "pbkdf2-sha256$" + std::to_string(iterations) + "$" +
         Base64Encode(std::string_view(reinterpret_cast<char*>(salt), sizeof(salt))) + "$" +
         Base64Encode(std::string_view(reinterpret_cast<char*>(out), sizeof(out)));
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  constexpr std::string_view kPrefix = "pbkdf2-sha256$";
  if (encoded.substr(0, kPrefix.size()) != kPrefix) return false;
  encoded.remove_prefix(kPrefix.size());
  size_t a = encoded.find('$');
  if (a == std::string_view::npos) return false;
  size_t b = encoded.find('$', a + 1);
  if (b == std::string_view::npos) return false;
  int iterations = 0;
  for (char c : encoded.substr(0, a)) {
    if (c < '0' || c > '9' || iterations > 10'000'000) return false;
    iterations = iterations * 10 + (c - '0');
  }
  if (iterations <= 0) return false;
  std::string salt, want;
  if (!Base64Decode(encoded.substr(a + 1, b - a - 1), &salt) ||
      !Base64Decode(encoded.substr(b + 1), &want) || want.empty()) {
    return false;
  }
  std::string got(want.size(), '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(),
                    static_cast<int>(got.size()), reinterpret_cast<unsigned char*>(got.data()));
  return CRYPTO_memcmp(got.data(), want.data(), got.size()) == 0;
}

}  // namespace aiot::registry
