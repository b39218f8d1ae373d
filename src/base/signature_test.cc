#include "base/signature.h"

#include <gtest/gtest.h>
#include <string>

#include "base/errc.h"
#include "base/sha256.h"
#include "tests/support/ed25519.h"

namespace aiot {
namespace {

// A fresh key per test run; the claim the registry would make for `bytes`.
class TestSigner : public test_support::Ed25519 {
 public:
  ArtifactClaim Claim(const std::string& bytes) const {
    ArtifactClaim c;
    c.sha256 = Sha256Hex(bytes);
    c.size = static_cast<int64_t>(bytes.size());
    c.signature = SignDigest(c.sha256);
    return c;
  }
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
