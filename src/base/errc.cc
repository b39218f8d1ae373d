#include "base/errc.h"

#include "base/error_category.h"

namespace aiot {

const char* ErrcName(errc e) {
  switch (e) {
    case errc::ok:
      return "ok";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::not_found:
      return "not_found";
    case errc::already_exists:
      return "already_exists";
    case errc::out_of_range:
      return "out_of_range";
    case errc::parse_error:
      return "parse_error";
    case errc::io_error:
      return "io_error";
    case errc::timeout:
      return "timeout";
    case errc::unavailable:
      return "unavailable";
    case errc::resource_exhausted:
      return "resource_exhausted";
    case errc::permission_denied:
      return "permission_denied";
    case errc::unauthenticated:
      return "unauthenticated";
    case errc::unsupported:
      return "unsupported";
    case errc::corrupted:
      return "corrupted";
    case errc::cancelled:
      return "cancelled";
    case errc::internal:
      return "internal";
  }
  return "unknown";
}

const std::error_category& aiot_category() {
  static const NamedCategory category("aiot",
                                      [](int ev) { return ErrcName(static_cast<errc>(ev)); });
  return category;
}

}  // namespace aiot
