#include "base/signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

#include "base/errc.h"
#include "base/sha256.h"

namespace aiot {

bool VerifyDigestSignature(std::string_view public_key_pem, std::string_view sha256_hex,
                           std::string_view signature_b64) {
  if (signature_b64.empty() || signature_b64.size() > 1024 || sha256_hex.size() != 64) return false;
  // Standard base64 with padding: EVP_DecodeBlock keeps the padding bytes, strip them after.
  std::string sig((signature_b64.size() / 4) * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(sig.data()),
                                reinterpret_cast<const unsigned char*>(signature_b64.data()),
                                static_cast<int>(signature_b64.size()));
  if (n < 0 || signature_b64.size() % 4 != 0) return false;
  size_t len = static_cast<size_t>(n);
  if (signature_b64.ends_with("==")) {
    len -= 2;
  } else if (signature_b64.ends_with("=")) {
    len -= 1;
  }
  sig.resize(len);
  if (sig.size() != 64) return false;

  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(public_key_pem.data(), static_cast<int>(public_key_pem.size())), &BIO_free);
  if (!bio) return false;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!key || EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(sha256_hex.data()),
                          sha256_hex.size()) == 1;
}

ClaimProblem CheckArtifactClaim(std::string_view public_key_pem, std::string_view bytes,
                                const ArtifactClaim& claim) {
  if (claim.size >= 0 && static_cast<size_t>(claim.size) != bytes.size()) {
    return ClaimProblem::kSize;
  }
  if (public_key_pem.empty()) return ClaimProblem::kSignature;
  if (Sha256Hex(bytes) != claim.sha256) return ClaimProblem::kSha256;
  if (!VerifyDigestSignature(public_key_pem, claim.sha256, claim.signature)) {
    return ClaimProblem::kSignature;
  }
  return ClaimProblem::kNone;
}

const char* ClaimProblemName(ClaimProblem p) {
  switch (p) {
    case ClaimProblem::kNone:
      return "";
    case ClaimProblem::kSize:
      return "size";
    case ClaimProblem::kSha256:
      return "sha256";
    case ClaimProblem::kSignature:
      return "signature";
  }
  return "";
}

Status ClaimStatus(ClaimProblem p) {
  switch (p) {
    case ClaimProblem::kNone:
      return Status::Ok();
    case ClaimProblem::kSize:
      return {errc::corrupted, "size mismatch"};
    case ClaimProblem::kSha256:
      return {errc::corrupted, "sha256 mismatch"};
    case ClaimProblem::kSignature:
      return {errc::permission_denied, "bad signature"};
  }
  return Status::Ok();
}

Status VerifyArtifactClaim(std::string_view public_key_pem, std::string_view bytes,
                           const ArtifactClaim& claim) {
  return ClaimStatus(CheckArtifactClaim(public_key_pem, bytes, claim));
}

}  // namespace aiot
