#pragma once

#include <string_view>

#include <string>

#include "base/artifact.h"
#include "base/result.h"

namespace aiot {

// Verifies the platform's artifact signatures (src/ota/README.md) where models are received
// (devices, a predictor following a remote registry): Ed25519 over the ASCII lowercase hex sha256
// of the artifact, base64 on the wire, the public key as PEM (SubjectPublicKeyInfo). On OpenSSL,
// in its own target (`aiot_base_signature`) so that receivers need not link the registry (SQLite
// and friends) and `aiot_base` does not need OpenSSL. Thread-safe.
bool VerifyDigestSignature(std::string_view public_key_pem, std::string_view sha256_hex,
                           std::string_view signature_b64);

// What is wrong with artifact bytes against their claim, in the order checked: the size (when
// the claim gives one), the sha256, then the signature (a missing key is kSignature: without it
// nothing can be trusted). Callers that react per kind (metrics labels, OTA status) branch on this,
// never on a message.
enum class ClaimProblem { kNone, kSize, kSha256, kSignature };
ClaimProblem CheckArtifactClaim(std::string_view public_key_pem, std::string_view bytes,
                                const ArtifactClaim& claim);
// "size", "sha256", "signature" ("" for kNone): the failure label in metrics and logs.
const char* ClaimProblemName(ClaimProblem p);
// The Status for a problem: errc::corrupted (size or digest) or errc::permission_denied
// (signature), with the message "size mismatch", "sha256 mismatch" or "bad signature" (these
// messages are part of the OTA status a device reports).
Status ClaimStatus(ClaimProblem p);

// CheckArtifactClaim as a Status.
Status VerifyArtifactClaim(std::string_view public_key_pem, std::string_view bytes,
                           const ArtifactClaim& claim);

}  // namespace aiot
