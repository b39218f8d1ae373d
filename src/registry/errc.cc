#include "registry/errc.h"

#include "base/artifact.h"
#include "base/error_category.h"

namespace aiot::registry {

// A flat switch over the codes.
const char* ErrcName(errc e) {
  switch (e) {
    case errc::ok:
      return "ok";
    case errc::invalid_name:
      return "invalid_name";
    case errc::invalid_version:
      return "invalid_version";
    case errc::unknown_parent:
      return "unknown_parent";
    case errc::invalid_stage:
      return "invalid_stage";
    case errc::invalid_metadata:
      return "invalid_metadata";
    case errc::empty_artifact:
      return "empty_artifact";
    case errc::too_large:
      return "too_large";
    case errc::in_production:
      return "in_production";
    case errc::invalid_label:
      return "invalid_label";
    case errc::invalid_status:
      return "invalid_status";
  }
  return "unknown";
}

const std::error_category& registry_category() {
  static const NamedCategory category("registry",
                                      [](int ev) { return ErrcName(static_cast<errc>(ev)); });
  return category;
}

Status CheckName(std::string_view what, std::string_view name) {
  if (IsValidModelName(name)) return Status::Ok();
  std::string shown(name.substr(0, 80));
  return Status(errc::invalid_name,
                std::string(what) + " `" + shown +
                    "` must be 1..64 of [A-Za-z0-9._-], start with a letter or digit, no `..`");
}

}  // namespace aiot::registry
