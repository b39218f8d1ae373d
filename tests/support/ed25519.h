#pragma once

// A throwaway Ed25519 signing key for tests (no key material in the repository), signing the way
// the registry does (src/ota/README.md): Ed25519 over the lowercase hex sha256 of an artifact,
// base64. Header-only; a test that includes it links OpenSSL::Crypto.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

namespace aiot::test_support {

class Ed25519 {
 public:
  Ed25519() : key_(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")) {}
  ~Ed25519() { EVP_PKEY_free(key_); }
  Ed25519(const Ed25519&) = delete;
  Ed25519& operator=(const Ed25519&) = delete;

  // The public key as PEM (SubjectPublicKeyInfo), as receivers are configured with it.
  std::string PublicPem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key_);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(bio);
    return pem;
  }

  // The base64 signature of a sha256 hex string.
  std::string SignDigest(const std::string& hex) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_);
    unsigned char sig[64];
    size_t len = sizeof sig;
    EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(hex.data()), hex.size());
    EVP_MD_CTX_free(ctx);
    std::string b64(4 * ((len + 2) / 3) + 1, '\0');
    const int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), sig, static_cast<int>(len));
    b64.resize(static_cast<size_t>(n));
    return b64;
  }

 private:
  EVP_PKEY* key_;
};

}  // namespace aiot::test_support
