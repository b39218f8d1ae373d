#include "base/signature.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

#include "base/errc.h"
#include "base/sha256.h"

namespace aiot {
namespace {

// A fresh Ed25519 key per test run (no key material in the repository): signs the sha256 hex of
// an artifact as the registry does (src/ota/README.md) and gives the public key as PEM.
class TestSigner {
 public:
  TestSigner() {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
    EVP_PKEY_keygen_init(ctx);
    EVP_PKEY_keygen(ctx, &key_);
    EVP_PKEY_CTX_free(ctx);
  }
  ~TestSigner() { EVP_PKEY_free(key_); }

  std::string PublicPem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key_);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(bio);
    return pem;
  }

  ArtifactClaim Claim(const std::string& bytes) const {
    ArtifactClaim c;
    c.sha256 = Sha256Hex(bytes);
    c.size = static_cast<int64_t>(bytes.size());
    unsigned char sig[64];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, nullptr, nullptr, nullptr, key_);
    EVP_DigestSign(md, sig, &sig_len, reinterpret_cast<const unsigned char*>(c.sha256.data()),
                   c.sha256.size());
    EVP_MD_CTX_free(md);
    unsigned char b64[128];
    int len = EVP_EncodeBlock(b64, sig, static_cast<int>(sig_len));
    c.signature.assign(reinterpret_cast<char*>(b64), static_cast<size_t>(len));
    return c;
  }

 private:
  EVP_PKEY* key_ = nullptr;
};

TEST(ArtifactClaimTest, AcceptsBytesThatMatchTheirSignedClaim) {
  TestSigner signer;
  const std::string bytes = "model bytes";
  EXPECT_EQ(CheckArtifactClaim(signer.PublicPem(), bytes, signer.Claim(bytes)),
            ClaimProblem::kNone);
  EXPECT_TRUE(VerifyArtifactClaim(signer.PublicPem(), bytes, signer.Claim(bytes)).ok());
}

TEST(ArtifactClaimTest, NamesEachProblemInTheOrderChecked) {
  TestSigner signer;
  const std::string bytes = "model bytes";
  ArtifactClaim claim = signer.Claim(bytes);

  ArtifactClaim wrong_size = claim;
  wrong_size.size += 1;
  EXPECT_EQ(CheckArtifactClaim(signer.PublicPem(), bytes, wrong_size), ClaimProblem::kSize);

  // Same length, other bytes: the digest differs.
  EXPECT_EQ(CheckArtifactClaim(signer.PublicPem(), "model bytez", claim), ClaimProblem::kSha256);

  // A signature by another key, and no key at all.
  TestSigner other;
  EXPECT_EQ(CheckArtifactClaim(other.PublicPem(), bytes, claim), ClaimProblem::kSignature);
  EXPECT_EQ(CheckArtifactClaim("", bytes, claim), ClaimProblem::kSignature);

  // Without a size in the claim, the size is not checked.
  ArtifactClaim no_size = claim;
  no_size.size = -1;
  EXPECT_EQ(CheckArtifactClaim(signer.PublicPem(), bytes, no_size), ClaimProblem::kNone);
}

TEST(ArtifactClaimTest, StatusesKeepTheirCodesAndWireMessages) {
  EXPECT_EQ(ClaimStatus(ClaimProblem::kSize).error(), make_error_code(errc::corrupted));
  EXPECT_EQ(ClaimStatus(ClaimProblem::kSize).message(), "size mismatch");
  EXPECT_EQ(ClaimStatus(ClaimProblem::kSha256).message(), "sha256 mismatch");
  EXPECT_EQ(ClaimStatus(ClaimProblem::kSignature).error(),
            make_error_code(errc::permission_denied));
  EXPECT_EQ(ClaimStatus(ClaimProblem::kSignature).message(), "bad signature");
  EXPECT_TRUE(ClaimStatus(ClaimProblem::kNone).ok());
  EXPECT_STREQ(ClaimProblemName(ClaimProblem::kSha256), "sha256");
  EXPECT_STREQ(ClaimProblemName(ClaimProblem::kSignature), "signature");
}

}  // namespace
}  // namespace aiot
