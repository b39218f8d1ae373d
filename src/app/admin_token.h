#pragma once

#include <filesystem>
#include <string>

#include "base/result.h"

namespace aiot::app {

// The platform's admin bearer token when no `http.auth_tokens` are configured: read from
// `<dir>/admin.token`, or created there on first start (32 random bytes as hex, file mode 0600,
// never overwritten). `aiot models|devices|rollout|data` read the same file when neither
// --token nor AIOT_TOKEN is given, and the dashboard signs in with it.
Result<std::string> LoadOrCreateAdminToken(const std::filesystem::path& dir);

inline constexpr const char* kAdminTokenFile = "admin.token";

}  // namespace aiot::app
