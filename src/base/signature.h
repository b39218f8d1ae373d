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

// Verifies artifact bytes against a claim and the platform's key: the size (when given), the
// sha256, then the signature. errc::corrupted (size or digest mismatch) or
// errc::permission_denied (bad signature, or no key: without it nothing can be trusted), with the
// message "size mismatch", "sha256 mismatch" or "bad signature".
Status VerifyArtifactClaim(std::string_view public_key_pem, std::string_view bytes,
                           const ArtifactClaim& claim);

}  // namespace aiot
