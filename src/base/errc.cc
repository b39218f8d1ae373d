#include "base/errc.h"

namespace aiot {
namespace {

class AiotCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "aiot"; }
  std::string message(int ev) const override { return ErrcName(static_cast<errc>(ev)); }
};

}  // namespace

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
  static const AiotCategory category;
  return category;
}

}  // namespace aiot
