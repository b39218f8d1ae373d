#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "base/result.h"

namespace aiot::registry {

// Why the registries refused a request, for callers that answer differently per cause (the HTTP
// API: 400, 409 or 413). The Status carrying one says in its message which value was wrong.
// Storage failures, missing records and wrong credentials keep the base codes (aiot::errc:
// not_found, already_exists, unauthenticated, io_error, ...).
enum class errc {
  ok = 0,
  invalid_name,      // a model name or device id outside [A-Za-z0-9._-], 1..64, no ".."
  invalid_version,   // a version or parent version that is not a positive number
  unknown_parent,    // parent_version names no version of the model
  invalid_stage,     // not none|staging|production|archived
  invalid_metadata,  // metrics or parameters that are not a JSON object
  empty_artifact,    // an upload without bytes
  too_large,         // an upload over max_artifact_bytes
  in_production,     // deleting the version in production
  invalid_label,     // a device type, label key or value, or label selector outside the rules
  invalid_status,    // a device status payload the message rules reject
};

const std::error_category& registry_category();
inline std::error_code make_error_code(errc e) {
  return {static_cast<int>(e), registry_category()};
}

// A stable lower_snake name ("invalid_name"), used as the `code` of HTTP error bodies.
const char* ErrcName(errc e);

// Ok when `name` is a valid model name or device id; else errc::invalid_name with a message
// naming `what` ("model name", "device id") and the value.
Status CheckName(std::string_view what, std::string_view name);

}  // namespace aiot::registry

template <>
struct std::is_error_code_enum<aiot::registry::errc> : std::true_type {};
