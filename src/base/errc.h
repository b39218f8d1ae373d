#pragma once

#include <string>
#include <system_error>

namespace aiot {

// Error codes shared by modules that have no finer-grained enum of their own. A module that needs
// its own codes follows this pattern: an enum class, a category (a NamedCategory,
// base/error_category.h), make_error_code, is_error_code_enum.
enum class errc {
  ok = 0,
  invalid_argument,
  not_found,
  already_exists,
  out_of_range,
  parse_error,
  io_error,
  timeout,
  unavailable,
  resource_exhausted,
  permission_denied,
  unauthenticated,
  unsupported,
  corrupted,
  cancelled,
  internal,
};

const std::error_category& aiot_category();

inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), aiot_category()}; }

// A stable lower_snake name for an error, used in JSON error bodies and logs.
const char* ErrcName(errc e);

}  // namespace aiot

template <>
struct std::is_error_code_enum<aiot::errc> : std::true_type {};
