#include "registry/http_api.h"

#include <charconv>

#include "base/clock.h"
#include "base/errc.h"
#include "base/log.h"

namespace aiot::registry {
namespace {

using net::ErrorResponse;
using net::JsonResponse;
using net::Request;
using net::Response;
namespace http = net::http;

constexpr std::string_view kDevicePrefix = "device:";

Response Forbidden(std::string_view why) {
  return ErrorResponse(http::status::forbidden, "forbidden", why);
}
Response BadRequest(std::string_view why) {
  return ErrorResponse(http::status::bad_request, "bad_request", why);
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string_view Actor(const Request& req) {
  return req.principal() ? std::string_view(req.principal()->name) : std::string_view("anonymous");
}

}  // namespace

PlatformAuthenticator::PlatformAuthenticator(DeviceRegistry& devices,
                                             std::shared_ptr<const net::Authenticator> operators)
    : devices_(devices), operators_(std::move(operators)) {}

std::optional<net::Principal> PlatformAuthenticator::Authenticate(std::string_view token) const {
  if (token.substr(0, 4) == "dev_") {
    auto id = devices_.AuthenticateToken(token);
    if (!id.ok()) return std::nullopt;
    return net::Principal{std::string(kDevicePrefix) + *id, {std::string(kRoleDevice)}};
  }
  if (operators_) return operators_->Authenticate(token);
  return std::nullopt;
}

std::string_view DeviceIdOf(const net::Principal* p) {
  if (!p || !p->HasRole(kRoleDevice)) return {};
  std::string_view name = p->name;
  if (name.substr(0, kDevicePrefix.size()) != kDevicePrefix) return {};
  return name.substr(kDevicePrefix.size());
}

bool IsOperator(const net::Principal* p) {
  return p && (p->HasRole(kRoleAdmin) || p->HasRole(kRoleOperator));
}

nlohmann::json ToJson(const ModelVersion& m) {
  auto parse = [](const std::string& s) {
    auto j = nlohmann::json::parse(s, nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
  };
  return {{"name", m.name},
          {"version", m.version},
          {"stage", StageName(m.stage)},
          {"sha256", m.sha256},
          {"size", m.size},
          {"signature", m.signature},
          {"metrics", parse(m.metrics_json)},
          {"parameters", parse(m.parameters_json)},
          {"training_data_hash", m.training_data_hash},
          {"parent_version", m.parent_version},
          {"created_at", FormatTimestamp(m.created_at)},
          {"artifact_url",
           "/api/v1/models/" + m.name + "/versions/" + std::to_string(m.version) + "/artifact"}};
}

nlohmann::json ToJson(const Device& d) {
  nlohmann::json status = nlohmann::json::parse(d.status_json, nullptr, false);
  return {
      {"id", d.spec.id},
      {"type", d.spec.type},
      {"labels", d.spec.labels},
      {"firmware", d.spec.firmware},
      {"state", DeviceStateName(d.state)},
      {"created_at", FormatTimestamp(d.created_at)},
      {"activated_at",
       d.activated_at ? nlohmann::json(FormatTimestamp(d.activated_at)) : nlohmann::json()},
      {"last_seen", d.last_seen ? nlohmann::json(FormatTimestamp(d.last_seen)) : nlohmann::json()},
      {"online", d.online},
      {"status", status.is_discarded() ? nlohmann::json() : status},
      {"reported_model", d.reported_model},
      {"desired_model", d.desired_model}};
}

nlohmann::json ToJson(const AuditEntry& e) {
  return {
      {"id", e.id},     {"at", FormatTimestamp(e.at)}, {"actor", e.actor},  {"action", e.action},
      {"name", e.name}, {"version", e.version},        {"detail", e.detail}};
}

// ---- errors ----

namespace {

// The message of `s`, or "<what> <fallback>" when the code came without one.
std::string MessageOf(const Status& s, std::string_view what, std::string_view fallback) {
  std::string m = s.message();
  if (m != s.code().message()) return m;
  if (what.empty()) return std::string(fallback);
  return std::string(what) + " " + std::string(fallback);
}

// A flat switch over the registry's codes.
std::optional<Response> RegistryError(const Status& s) {
  if (s.code().category() != registry_category()) return std::nullopt;
  const auto e = static_cast<errc>(s.code().value());
  switch (e) {
    case errc::too_large:
      return ErrorResponse(http::status::payload_too_large, "payload_too_large", s.message());
    case errc::in_production:
      return ErrorResponse(http::status::conflict, "in_production", s.message());
    case errc::ok:
      break;
    default:  // every other cause is a bad argument
      return ErrorResponse(http::status::bad_request, ErrcName(e), s.message());
  }
  return std::nullopt;
}

// A flat switch over the base codes the registries return.
std::optional<Response> BaseError(const Status& s, std::string_view what) {
  if (s.code().category() != aiot_category()) return std::nullopt;
  switch (static_cast<aiot::errc>(s.code().value())) {
    case aiot::errc::not_found:
      return ErrorResponse(http::status::not_found, "not_found", MessageOf(s, what, "not found"));
    case aiot::errc::already_exists:
      return ErrorResponse(http::status::conflict, "already_exists",
                           MessageOf(s, what, "already exists"));
    case aiot::errc::invalid_argument:
      return ErrorResponse(http::status::bad_request, "invalid_argument",
                           MessageOf(s, what, "is not valid"));
    case aiot::errc::resource_exhausted:
      return ErrorResponse(http::status::payload_too_large, "payload_too_large",
                           MessageOf(s, what, "too large"));
    case aiot::errc::unauthenticated:
      return ErrorResponse(http::status::unauthorized, "unauthenticated",
                           MessageOf(s, {}, "invalid credentials"));
    case aiot::errc::permission_denied:
      return Forbidden(MessageOf(s, {}, "not allowed"));
    default:
      return std::nullopt;
  }
}

}  // namespace

Response ErrorFor(const Status& s, std::string_view what) {
  if (auto r = RegistryError(s)) return std::move(*r);
  if (auto r = BaseError(s, what)) return std::move(*r);
  // Handled here: the client gets a 500, the log gets why.
  log::Get("registry")->error("{}: {}", what.empty() ? "request" : what, s.ToString());
  return ErrorResponse(http::status::internal_server_error, "internal", s.message());
}

// ---- handlers ----

namespace {

// What the handlers serve from; the registries outlive the router.
struct RegistryApi {
  ModelRegistry& models;
  DeviceRegistry& devices;
};
using Handler = Response (*)(const RegistryApi&, Request&);

Response NoContent() { return Response(http::status::no_content, ""); }

nlohmann::json ToJsonArray(const auto& items) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& item : items) out.push_back(ToJson(item));
  return out;
}

// The {version} path parameter.
Result<int64_t> VersionParam(const Request& req) {
  int64_t version = 0;
  if (ParseInt(req.param("version"), &version)) return version;
  return {errc::invalid_version,
          "version `" + std::string(req.param("version").substr(0, 40)) + "` is not a number"};
}

Response ServeSigningKey(const RegistryApi& api, Request&) {
  return Response(http::status::ok, api.models.signing_key().PublicKeyPem(),
                  "application/x-pem-file");
}

// GET /api/v1/models[?name=]
Response ListModels(const RegistryApi& api, Request& req) {
  auto list = api.models.List(req.query("name").value_or(""));
  if (!list.ok()) return ErrorFor(list.status(), "models");
  return JsonResponse({{"models", ToJsonArray(*list)}});
}

// GET /api/v1/models/{name}
Response ModelVersions(const RegistryApi& api, Request& req) {
  std::string_view name = req.param("name");
  auto list = api.models.List(name);
  if (!list.ok()) return ErrorFor(list.status(), "model");
  if (list->empty()) {
    return ErrorFor(Status(aiot::errc::not_found, "model " + std::string(name) + " not found"));
  }
  return JsonResponse({{"name", std::string(name)}, {"versions", ToJsonArray(*list)}});
}

Response ProductionVersion(const RegistryApi& api, Request& req) {
  auto m = api.models.Production(req.param("name"));
  if (!m.ok()) return ErrorFor(m.status(), "production version");
  return JsonResponse(ToJson(*m));
}

Response GetVersion(const RegistryApi& api, Request& req) {
  auto version = VersionParam(req);
  if (!version.ok()) return ErrorFor(version.status());
  auto m = api.models.Get(req.param("name"), *version);
  if (!m.ok()) return ErrorFor(m.status(), "model version");
  return JsonResponse(ToJson(*m));
}

Response DownloadArtifact(const RegistryApi& api, Request& req) {
  auto version = VersionParam(req);
  if (!version.ok()) return ErrorFor(version.status());
  auto m = api.models.Get(req.param("name"), *version);
  if (!m.ok()) return ErrorFor(m.status(), "model version");
  Response r = net::ServeFile(req, api.models.ArtifactPath(m->sha256), "application/octet-stream",
                              "\"" + m->sha256 + "\"");
  r.Header("X-Aiot-Sha256", m->sha256);
  r.Header("X-Aiot-Signature", m->signature);
  r.Header("Content-Disposition",
           "attachment; filename=\"" + m->name + "-" + std::to_string(m->version) + ".tflite\"");
  return r;
}

// The metadata of a push from its query parameters (metrics and parameters as JSON objects,
// training_data_hash, parent_version); the registry checks the values.
Result<PushRequest> PushRequestOf(const Request& req) {
  PushRequest p;
  p.name = std::string(req.param("name"));
  p.actor = std::string(Actor(req));
  p.metrics_json = std::string(req.query("metrics").value_or("{}"));
  p.parameters_json = std::string(req.query("parameters").value_or("{}"));
  p.training_data_hash = std::string(req.query("training_data_hash").value_or(""));
  if (auto parent = req.query("parent_version"); parent && !ParseInt(*parent, &p.parent_version)) {
    return {errc::invalid_version,
            "parent_version `" + std::string(parent->substr(0, 40)) + "` is not a number"};
  }
  return p;
}

// POST /api/v1/models/{name}/versions: the body is the artifact. 201 new, 200 already there.
Response PushVersion(const RegistryApi& api, Request& req) {
  if (!IsOperator(req.principal())) return Forbidden("pushing models needs admin or operator");
  auto p = PushRequestOf(req);
  if (!p.ok()) return ErrorFor(p.status());
  bool created = false;
  auto m = api.models.Push(req.body(), *p, &created);
  if (!m.ok()) return ErrorFor(m.status(), "model artifact");
  Response r = JsonResponse(created ? http::status::created : http::status::ok, ToJson(*m));
  r.Header("Location", "/api/v1/models/" + m->name + "/versions/" + std::to_string(m->version));
  return r;
}

// POST /api/v1/models/{name}/versions/{version}/stage {"stage":"none|staging|production|archived"}
Response SetStage(const RegistryApi& api, Request& req) {
  if (!IsOperator(req.principal())) return Forbidden("changing stages needs admin or operator");
  auto version = VersionParam(req);
  if (!version.ok()) return ErrorFor(version.status());
  auto body = req.Json();
  if (!body.ok() || !body->is_object() || !body->contains("stage") ||
      !(*body)["stage"].is_string()) {
    return BadRequest("body must be {\"stage\":\"none|staging|production|archived\"}");
  }
  auto stage = ParseStage((*body)["stage"].get<std::string>());
  if (!stage.ok()) return ErrorFor(stage.status());
  auto m = api.models.SetStage(req.param("name"), *version, *stage, Actor(req));
  if (!m.ok()) return ErrorFor(m.status(), "model version");
  return JsonResponse(ToJson(*m));
}

Response RollbackModel(const RegistryApi& api, Request& req) {
  if (!IsOperator(req.principal())) return Forbidden("rollback needs admin or operator");
  auto m = api.models.Rollback(req.param("name"), Actor(req));
  if (!m.ok()) return ErrorFor(m.status(), "earlier production version");
  return JsonResponse(ToJson(*m));
}

// DELETE /api/v1/models/{name}/versions/{version} (admin; 409 in_production).
Response DeleteVersion(const RegistryApi& api, Request& req) {
  auto version = VersionParam(req);
  if (!version.ok()) return ErrorFor(version.status());
  Status s = api.models.Delete(req.param("name"), *version, Actor(req));
  if (!s.ok()) return ErrorFor(s, "model version");
  return NoContent();
}

// GET /api/v1/audit and /api/v1/models/{name}/audit.
Response Audit(const RegistryApi& api, Request& req) {
  if (!IsOperator(req.principal())) return Forbidden("audit needs admin or operator");
  auto list = api.models.Audit(req.param("name"));
  if (!list.ok()) return ErrorFor(list.status(), "audit");
  return JsonResponse({{"audit", ToJsonArray(*list)}});
}

// {"id":..,"type":..,"labels":{..},"firmware":..}; the registry checks the values.
Result<DeviceSpec> DeviceSpecOf(const Request& req) {
  const Status bad(aiot::errc::invalid_argument,
                   R"(body must be {"id":..,"type":..,"labels":{..},"firmware":..})");
  auto body = req.Json();
  if (!body.ok() || !body->is_object() || !body->contains("id") || !(*body)["id"].is_string()) {
    return bad;
  }
  DeviceSpec spec;
  spec.id = (*body)["id"].get<std::string>();
  if (auto t = body->find("type"); t != body->end() && t->is_string()) spec.type = *t;
  if (auto f = body->find("firmware"); f != body->end() && f->is_string()) spec.firmware = *f;
  if (auto l = body->find("labels"); l != body->end()) {
    const Status bad_labels(aiot::errc::invalid_argument, "labels must be an object of strings");
    if (!l->is_object()) return bad_labels;
    for (auto& [k, v] : l->items()) {
      if (!v.is_string()) return bad_labels;
      spec.labels[k] = v.get<std::string>();
    }
  }
  return spec;
}

// POST /api/v1/devices: 201 with the credentials, shown once.
Response ProvisionDevice(const RegistryApi& api, Request& req) {
  if (!IsOperator(req.principal())) return Forbidden("provisioning needs admin or operator");
  auto spec = DeviceSpecOf(req);
  if (!spec.ok()) return BadRequest(spec.status().message());
  auto c = api.devices.Provision(*spec);
  if (!c.ok()) return ErrorFor(c.status(), "device");
  return JsonResponse(http::status::created,
                      {{"id", c->device_id},
                       {"token", c->token},
                       {"mqtt_username", c->mqtt_username},
                       {"mqtt_password", c->mqtt_password},
                       {"note", "credentials are shown once; store them on the device"}});
}

// GET /api/v1/devices?label=site:north[&all=true]
Response ListDevices(const RegistryApi& api, Request& req) {
  if (!IsOperator(req.principal())) return Forbidden("listing devices needs admin or operator");
  std::map<std::string, std::string> selector;
  for (const auto& [k, v] : req.query_params()) {
    if (k != "label") continue;
    if (Status s = DeviceRegistry::ParseLabelSelector(v, &selector); !s.ok()) return ErrorFor(s);
  }
  bool all = req.query("all").value_or("") == "true";
  auto list = api.devices.List(selector, all);
  if (!list.ok()) return ErrorFor(list.status(), "devices");
  return JsonResponse({{"devices", ToJsonArray(*list)}});
}

Response GetDevice(const RegistryApi& api, Request& req) {
  std::string_view id = req.param("id");
  if (!IsOperator(req.principal()) && DeviceIdOf(req.principal()) != id) {
    return Forbidden("a device may only read its own record");
  }
  auto d = api.devices.Get(id);
  if (!d.ok()) return ErrorFor(d.status(), "device");
  return JsonResponse(ToJson(*d));
}

// DELETE /api/v1/devices/{id} (admin): credentials revoked.
Response DecommissionDevice(const RegistryApi& api, Request& req) {
  Status s = api.devices.Decommission(req.param("id"));
  if (!s.ok()) return ErrorFor(s, "device");
  return NoContent();
}

// Activation: the device asks with its own token, the registry confirms.
Response ActivateDevice(const RegistryApi& api, Request& req) {
  std::string_view id = req.param("id");
  if (DeviceIdOf(req.principal()) != id) {
    return Forbidden("a device activates itself with its own token");
  }
  std::string token(net::BearerToken(req.header(http::field::authorization)));
  auto d = api.devices.Activate(id, token);
  if (!d.ok()) return ErrorFor(d.status(), "device");
  return JsonResponse({{"activated", true},
                       {"device", ToJson(*d)},
                       {"signing_key_url", "/.well-known/aiot/signing-key"}});
}

// Status over HTTP (devices normally use MQTT fan/status/<id>): the device itself or operators.
Response PutDeviceStatus(const RegistryApi& api, Request& req) {
  std::string_view id = req.param("id");
  if (DeviceIdOf(req.principal()) != id && !IsOperator(req.principal())) {
    return Forbidden("a device may only report its own status");
  }
  Status s = api.devices.RecordStatus(id, req.body());
  if (!s.ok()) return ErrorFor(s, "device");
  return NoContent();
}

}  // namespace

void RegisterRegistryRoutes(net::Router& router, ModelRegistry& models, DeviceRegistry& devices) {
  const RegistryApi api{models, devices};
  auto bind = [api](Handler h) { return [api, h](Request& req) { return h(api, req); }; };
  const net::RouteOptions any{.auth = true, .role = {}, .max_body_bytes = 0};
  const net::RouteOptions admin{.auth = true, .role = std::string(kRoleAdmin)};
  const net::RouteOptions upload{
      .auth = true,
      .role = {},
      .max_body_bytes = static_cast<size_t>(models.config().max_artifact_bytes)};
  const net::RouteOptions status{.auth = true, .role = {}, .max_body_bytes = 64 * 1024};

  router.Get("/.well-known/aiot/signing-key", bind(ServeSigningKey));
  router.Get("/api/v1/models", bind(ListModels), any);
  router.Get("/api/v1/models/{name}", bind(ModelVersions), any);
  router.Get("/api/v1/models/{name}/production", bind(ProductionVersion), any);
  router.Get("/api/v1/models/{name}/versions/{version}", bind(GetVersion), any);
  router.Get("/api/v1/models/{name}/versions/{version}/artifact", bind(DownloadArtifact), any);
  router.Post("/api/v1/models/{name}/versions", bind(PushVersion), upload);
  router.Post("/api/v1/models/{name}/versions/{version}/stage", bind(SetStage), any);
  router.Post("/api/v1/models/{name}/rollback", bind(RollbackModel), any);
  router.Delete("/api/v1/models/{name}/versions/{version}", bind(DeleteVersion), admin);
  router.Get("/api/v1/audit", bind(Audit), any);
  router.Get("/api/v1/models/{name}/audit", bind(Audit), any);

  router.Post("/api/v1/devices", bind(ProvisionDevice), any);
  router.Get("/api/v1/devices", bind(ListDevices), any);
  router.Get("/api/v1/devices/{id}", bind(GetDevice), any);
  router.Delete("/api/v1/devices/{id}", bind(DecommissionDevice), admin);
  router.Post("/api/v1/devices/{id}/activate", bind(ActivateDevice), any);
  router.Put("/api/v1/devices/{id}/status", bind(PutDeviceStatus), status);
}

}  // namespace aiot::registry
