#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "net/auth.h"
#include "net/router.h"
#include "registry/device_registry.h"
#include "registry/model_registry.h"

namespace aiot::registry {

// Roles: "admin" (everything), "operator" (push, promote, roll out, provision, export) and
// "device" (its own record, activation and status, model downloads).
inline constexpr std::string_view kRoleAdmin = "admin";
inline constexpr std::string_view kRoleOperator = "operator";
inline constexpr std::string_view kRoleDevice = "device";

// Bearer tokens: device tokens ("dev_...") are looked up in the device registry and give the
// principal "device:<id>" with role "device"; any other token goes to `operators` (normally the
// net::StaticTokenAuthenticator built from the HTTP server's auth_tokens/auth_roles).
// Thread-safe (DeviceRegistry is).
class PlatformAuthenticator : public net::Authenticator {
 public:
  PlatformAuthenticator(DeviceRegistry& devices,
                        std::shared_ptr<const net::Authenticator> operators);
  std::optional<net::Principal> Authenticate(std::string_view token) const override;

 private:
  DeviceRegistry& devices_;
  std::shared_ptr<const net::Authenticator> operators_;
};

// The device id of a device principal, or "" for other principals.
std::string_view DeviceIdOf(const net::Principal* p);
// True when the principal has any of the roles admin or operator.
bool IsOperator(const net::Principal* p);

// Registers the model and device routes (see README.md for the list); the training data routes
// are src/datastore's (RegisterDataRoutes). The registries must outlive the router.
void RegisterRegistryRoutes(net::Router& router, ModelRegistry& models, DeviceRegistry& devices);

nlohmann::json ToJson(const ModelVersion& m);
nlohmann::json ToJson(const Device& d);
nlohmann::json ToJson(const AuditEntry& e);

// An error as an HTTP error response {"error":{"code":..,"message":..}} with the Status's message:
// the registry's codes (errc.h) as 400 with their name as `code` (invalid_name, invalid_stage,
// ...), 413 payload_too_large and 409 in_production; the base codes as 404 not_found,
// 409 already_exists, 400 invalid_argument, 413, 401 and 403; anything else 500 internal (logged
// here). `what` ("device", "rollout") makes the message of a code that came without one.
net::Response ErrorFor(const Status& s, std::string_view what = {});

}  // namespace aiot::registry
