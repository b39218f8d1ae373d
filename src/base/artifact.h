#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

// The platform's model artifacts as the parties that exchange them see them: the registry that
// names and stores them, and the receivers (devices, a predictor following a remote registry)
// that fetch and verify them. Verification against the signing key is in base/signature.h.
namespace aiot {

// True for names made of [A-Za-z0-9._-], 1..64 characters, starting with a letter or digit and
// without "..": safe in paths, URLs and MQTT topics. Used for model names and device ids.
bool IsValidModelName(std::string_view name);

// What an artifact is claimed to be (a registry reply, an OTA command).
struct ArtifactClaim {
  std::string sha256;     // lowercase hex
  std::string signature;  // base64 Ed25519 over the sha256 hex string (see src/ota/README.md)
  int64_t size = -1;      // bytes; -1 = not given
};

// One version of a model as the registry describes it.
struct ModelRef {
  std::string name;
  int64_t version = 0;
  ArtifactClaim claim;
};

// Reads the registry's description of a model version (the reply to
// GET /api/v1/models/<name>/production) from the network, field by field: the name must be
// `expected_name`, the version and size positive integers, the sha256 64 lowercase hex digits and
// the signature present. Anything else is errc::parse_error. The artifact's URL is not taken
// from the reply: the receiver builds it from the name and version.
Result<ModelRef> ParseModelRef(const nlohmann::json& reply, std::string_view expected_name);

}  // namespace aiot
