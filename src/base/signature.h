#pragma once

#include <string_view>

#include "base/result.h"

namespace aiot {

// Verifies the platform's artifact signatures (src/ota/README.md) where models are received
// (devices, a predictor following a remote registry): Ed25519 over the ASCII lowercase hex sha256
// of the artifact, base64 on the wire, the public key as PEM (SubjectPublicKeyInfo). On OpenSSL,
// in its own target (`aiot_base_signature`) so that receivers need not link the registry (SQLite
// and friends) and `aiot_base` does not need OpenSSL. Thread-safe.
bool VerifyDigestSignature(std::string_view public_key_pem, std::string_view sha256_hex,
                           std::string_view signature_b64);

}  // namespace aiot
