#pragma once

#include <string_view>

#include "base/result.h"

namespace aiot::sim {

// The device side of the platform's artifact signatures (src/ota/README.md): Ed25519 over the
// ASCII lowercase hex sha256 of the artifact, base64 on the wire, the public key as PEM
// (SubjectPublicKeyInfo). Implemented on OpenSSL here so that a device does not link the
// registry (SQLite and friends). Thread-safe.
bool VerifyDigestSignature(std::string_view public_key_pem, std::string_view sha256_hex,
                           std::string_view signature_b64);

}  // namespace aiot::sim
