#include "registry/http_api.h"

#include <charconv>
#include <sstream>

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

// Parses a time given as RFC 3339 or as unix seconds.
bool ParseTime(std::string_view s, int64_t* nanos) {
  int64_t secs = 0;
  if (ParseInt(s, &secs)) {
    *nanos = secs * 1'000'000'000;
    return true;
  }
  return ParseTimestamp(s, nanos);
}

// Validates the {name} and {version} path parameters.
std::optional<Response> ModelParams(const Request& req, std::string* name, int64_t* version) {
  *name = std::string(req.param("name"));
  if (!IsValidModelName(*name)) return BadRequest("invalid model name");
  if (version && !ParseInt(req.param("version"), version)) return BadRequest("invalid version");
  return std::nullopt;
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

Response ErrorFor(std::error_code ec, std::string_view what) {
  if (ec.category() == aiot_category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::not_found:
        return ErrorResponse(http::status::not_found, "not_found",
                             std::string(what) + " not found");
      case errc::already_exists:
        return ErrorResponse(http::status::conflict, "already_exists",
                             std::string(what) + " already exists");
      case errc::invalid_argument:
        return ErrorResponse(http::status::bad_request, "invalid_argument",
                             std::string("invalid request for ") + std::string(what));
      case errc::resource_exhausted:
        return ErrorResponse(http::status::payload_too_large, "payload_too_large",
                             std::string(what) + " too large");
      case errc::unauthenticated:
        return ErrorResponse(http::status::unauthorized, "unauthenticated", "invalid credentials");
      case errc::permission_denied:
        return Forbidden("not allowed");
      default:
        break;
    }
  }
  log::Get("registry")->error("{}: {}", what, ec.message());
  return ErrorResponse(http::status::internal_server_error, "internal", ec.message());
}

void RegisterRegistryRoutes(net::Router& router, ModelRegistry& models, DeviceRegistry& devices,
                            TrainingDatastore* datastore) {
  const net::RouteOptions any{.auth = true, .role = {}, .max_body_bytes = 0};
  auto max_upload = static_cast<size_t>(models.config().max_artifact_bytes);

  router.Get("/.well-known/aiot/signing-key", [&models](Request&) {
    return Response(http::status::ok, models.signing_key().PublicKeyPem(),
                    "application/x-pem-file");
  });

  // ---- models ----
  router.Get(
      "/api/v1/models",
      [&models](Request& req) {
        std::string name(req.query("name").value_or(""));
        if (!name.empty() && !IsValidModelName(name)) return BadRequest("invalid model name");
        auto list = models.List(name);
        if (!list.ok()) return ErrorFor(list.error(), "models");
        nlohmann::json out = nlohmann::json::array();
        for (const auto& m : *list) out.push_back(ToJson(m));
        return JsonResponse({{"models", out}});
      },
      any);

  router.Get(
      "/api/v1/models/{name}",
      [&models](Request& req) {
        std::string name;
        if (auto bad = ModelParams(req, &name, nullptr)) return std::move(*bad);
        auto list = models.List(name);
        if (!list.ok()) return ErrorFor(list.error(), "model");
        if (list->empty()) return ErrorFor(errc::not_found, "model " + name);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& m : *list) out.push_back(ToJson(m));
        return JsonResponse({{"name", name}, {"versions", out}});
      },
      any);

  router.Get(
      "/api/v1/models/{name}/production",
      [&models](Request& req) {
        std::string name;
        if (auto bad = ModelParams(req, &name, nullptr)) return std::move(*bad);
        auto m = models.Production(name);
        if (!m.ok()) return ErrorFor(m.error(), "production version of " + name);
        return JsonResponse(ToJson(*m));
      },
      any);

  router.Get(
      "/api/v1/models/{name}/versions/{version}",
      [&models](Request& req) {
        std::string name;
        int64_t version = 0;
        if (auto bad = ModelParams(req, &name, &version)) return std::move(*bad);
        auto m = models.Get(name, version);
        if (!m.ok()) return ErrorFor(m.error(), "model version");
        return JsonResponse(ToJson(*m));
      },
      any);

  router.Get(
      "/api/v1/models/{name}/versions/{version}/artifact",
      [&models](Request& req) {
        std::string name;
        int64_t version = 0;
        if (auto bad = ModelParams(req, &name, &version)) return std::move(*bad);
        auto m = models.Get(name, version);
        if (!m.ok()) return ErrorFor(m.error(), "model version");
        Response r = net::ServeFile(req, models.ArtifactPath(m->sha256), "application/octet-stream",
                                    "\"" + m->sha256 + "\"");
        r.Header("X-Aiot-Sha256", m->sha256);
        r.Header("X-Aiot-Signature", m->signature);
        r.Header("Content-Disposition",
                 "attachment; filename=\"" + name + "-" + std::to_string(version) + ".tflite\"");
        return r;
      },
      any);

  // Push: the body is the artifact; metadata in query parameters (metrics and parameters as
  // JSON objects, training_data_hash, parent_version).
  router.Post(
      "/api/v1/models/{name}/versions",
      [&models](Request& req) {
        if (!IsOperator(req.principal()))
          return Forbidden("pushing models needs admin or operator");
        std::string name;
        if (auto bad = ModelParams(req, &name, nullptr)) return std::move(*bad);
        PushRequest p;
        p.name = name;
        p.actor = std::string(Actor(req));
        p.metrics_json = std::string(req.query("metrics").value_or("{}"));
        p.parameters_json = std::string(req.query("parameters").value_or("{}"));
        p.training_data_hash = std::string(req.query("training_data_hash").value_or(""));
        if (auto parent = req.query("parent_version");
            parent && !ParseInt(*parent, &p.parent_version)) {
          return BadRequest("invalid parent_version");
        }
        if (req.body().empty()) return BadRequest("empty artifact");
        auto before = models.List(name);
        auto m = models.Push(req.body(), p);
        if (!m.ok()) return ErrorFor(m.error(), "model artifact");
        bool existed = false;
        if (before.ok()) {
          for (const auto& v : *before) existed = existed || v.version == m->version;
        }
        Response r = JsonResponse(existed ? http::status::ok : http::status::created, ToJson(*m));
        r.Header("Location", "/api/v1/models/" + name + "/versions/" + std::to_string(m->version));
        return r;
      },
      {.auth = true, .role = {}, .max_body_bytes = max_upload});

  // Stage changes: {"stage":"staging"|"production"|"archived"|"none"}.
  router.Post(
      "/api/v1/models/{name}/versions/{version}/stage",
      [&models](Request& req) {
        if (!IsOperator(req.principal()))
          return Forbidden("changing stages needs admin or operator");
        std::string name;
        int64_t version = 0;
        if (auto bad = ModelParams(req, &name, &version)) return std::move(*bad);
        auto body = req.Json();
        Stage stage;
        if (!body.ok() || !body->is_object() || !body->contains("stage") ||
            !(*body)["stage"].is_string() ||
            !ParseStage((*body)["stage"].get<std::string>(), &stage)) {
          return BadRequest("body must be {\"stage\":\"none|staging|production|archived\"}");
        }
        auto m = models.SetStage(name, version, stage, Actor(req));
        if (!m.ok()) return ErrorFor(m.error(), "model version");
        return JsonResponse(ToJson(*m));
      },
      any);

  router.Post(
      "/api/v1/models/{name}/rollback",
      [&models](Request& req) {
        if (!IsOperator(req.principal())) return Forbidden("rollback needs admin or operator");
        std::string name;
        if (auto bad = ModelParams(req, &name, nullptr)) return std::move(*bad);
        auto m = models.Rollback(name, Actor(req));
        if (!m.ok()) return ErrorFor(m.error(), "earlier production version of " + name);
        return JsonResponse(ToJson(*m));
      },
      any);

  router.Delete("/api/v1/models/{name}/versions/{version}",
                [&models](Request& req) {
                  std::string name;
                  int64_t version = 0;
                  if (auto bad = ModelParams(req, &name, &version)) return std::move(*bad);
                  Status s = models.Delete(name, version, Actor(req));
                  if (!s.ok()) {
                    if (s.error() == make_error_code(errc::invalid_argument)) {
                      return ErrorResponse(
                          http::status::conflict, "in_production",
                          "archive or replace the production version before deleting it");
                    }
                    return ErrorFor(s.error(), "model version");
                  }
                  return Response(http::status::no_content, "");
                },
                {.auth = true, .role = std::string(kRoleAdmin)});

  auto audit = [&models](Request& req) {
    if (!IsOperator(req.principal())) return Forbidden("audit needs admin or operator");
    std::string name(req.param("name"));
    if (!name.empty() && !IsValidModelName(name)) return BadRequest("invalid model name");
    auto list = models.Audit(name);
    if (!list.ok()) return ErrorFor(list.error(), "audit");
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : *list) out.push_back(ToJson(e));
    return JsonResponse({{"audit", out}});
  };
  router.Get("/api/v1/audit", audit, any);
  router.Get("/api/v1/models/{name}/audit", audit, any);

  // ---- devices ----
  router.Post(
      "/api/v1/devices",
      [&devices](Request& req) {
        if (!IsOperator(req.principal())) return Forbidden("provisioning needs admin or operator");
        auto body = req.Json();
        if (!body.ok() || !body->is_object() || !body->contains("id") ||
            !(*body)["id"].is_string()) {
          return BadRequest(R"(body must be {"id":..,"type":..,"labels":{..},"firmware":..})");
        }
        DeviceSpec spec;
        spec.id = (*body)["id"].get<std::string>();
        if (auto t = body->find("type"); t != body->end() && t->is_string()) spec.type = *t;
        if (auto f = body->find("firmware"); f != body->end() && f->is_string()) spec.firmware = *f;
        if (auto l = body->find("labels"); l != body->end()) {
          if (!l->is_object()) return BadRequest("labels must be an object of strings");
          for (auto& [k, v] : l->items()) {
            if (!v.is_string()) return BadRequest("labels must be an object of strings");
            spec.labels[k] = v.get<std::string>();
          }
        }
        auto c = devices.Provision(spec);
        if (!c.ok()) return ErrorFor(c.error(), "device " + spec.id);
        return JsonResponse(http::status::created,
                            {{"id", c->device_id},
                             {"token", c->token},
                             {"mqtt_username", c->mqtt_username},
                             {"mqtt_password", c->mqtt_password},
                             {"note", "credentials are shown once; store them on the device"}});
      },
      any);

  router.Get(
      "/api/v1/devices",
      [&devices](Request& req) {
        if (!IsOperator(req.principal()))
          return Forbidden("listing devices needs admin or operator");
        std::map<std::string, std::string> selector;
        for (const auto& [k, v] : req.query_params()) {
          if (k == "label" && !DeviceRegistry::ParseLabelSelector(v, &selector)) {
            return BadRequest("label selector must be key:value[,key:value]");
          }
        }
        bool all = req.query("all").value_or("") == "true";
        auto list = devices.List(selector, all);
        if (!list.ok()) return ErrorFor(list.error(), "devices");
        nlohmann::json out = nlohmann::json::array();
        for (const auto& d : *list) out.push_back(ToJson(d));
        return JsonResponse({{"devices", out}});
      },
      any);

  router.Get(
      "/api/v1/devices/{id}",
      [&devices](Request& req) {
        std::string_view id = req.param("id");
        if (!IsOperator(req.principal()) && DeviceIdOf(req.principal()) != id) {
          return Forbidden("a device may only read its own record");
        }
        if (!IsValidModelName(id)) return BadRequest("invalid device id");
        auto d = devices.Get(id);
        if (!d.ok()) return ErrorFor(d.error(), "device");
        return JsonResponse(ToJson(*d));
      },
      any);

  router.Delete("/api/v1/devices/{id}",
                [&devices](Request& req) {
                  std::string_view id = req.param("id");
                  if (!IsValidModelName(id)) return BadRequest("invalid device id");
                  Status s = devices.Decommission(id);
                  if (!s.ok()) return ErrorFor(s.error(), "device");
                  return Response(http::status::no_content, "");
                },
                {.auth = true, .role = std::string(kRoleAdmin)});

  // Activation: the device asks with its own token, the registry confirms.
  router.Post(
      "/api/v1/devices/{id}/activate",
      [&devices](Request& req) {
        std::string_view id = req.param("id");
        if (DeviceIdOf(req.principal()) != id) {
          return Forbidden("a device activates itself with its own token");
        }
        std::string token(net::BearerToken(req.header(http::field::authorization)));
        auto d = devices.Activate(id, token);
        if (!d.ok()) return ErrorFor(d.error(), "device");
        return JsonResponse({{"activated", true},
                             {"device", ToJson(*d)},
                             {"signing_key_url", "/.well-known/aiot/signing-key"}});
      },
      any);

  // Status over HTTP (devices normally use MQTT fan/status/<id>): only the device itself.
  router.Put("/api/v1/devices/{id}/status",
             [&devices](Request& req) {
               std::string_view id = req.param("id");
               if (DeviceIdOf(req.principal()) != id && !IsOperator(req.principal())) {
                 return Forbidden("a device may only report its own status");
               }
               Status s = devices.RecordStatus(id, req.body());
               if (!s.ok()) {
                 if (s.error() == make_error_code(errc::parse_error)) {
                   return BadRequest("status must be a JSON object");
                 }
                 return ErrorFor(s.error(), "device");
               }
               return Response(http::status::no_content, "");
             },
             {.auth = true, .role = {}, .max_body_bytes = 64 * 1024});

  if (!datastore) return;

  // ---- training data ----
  router.Get(
      "/api/v1/data/export",
      [datastore](Request& req) {
        if (!IsOperator(req.principal())) return Forbidden("export needs admin or operator");
        ExportRequest ex;
        if (auto from = req.query("from"); from && !ParseTime(*from, &ex.from)) {
          return BadRequest("from must be RFC 3339 or unix seconds");
        }
        if (auto to = req.query("to"); to && !ParseTime(*to, &ex.to)) {
          return BadRequest("to must be RFC 3339 or unix seconds");
        }
        if (auto list = req.query("devices"); list && !list->empty()) {
          std::string_view rest = *list;
          while (!rest.empty()) {
            size_t comma = rest.find(',');
            ex.devices.emplace_back(rest.substr(0, comma));
            if (!IsValidModelName(ex.devices.back())) return BadRequest("invalid device id");
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
          }
        }
        std::ostringstream out;
        auto n = datastore->ExportCsv(ex, out);
        if (!n.ok()) return ErrorFor(n.error(), "export");
        Response r(http::status::ok, out.str(), "text/csv; charset=utf-8");
        r.Header("X-Aiot-Rows", std::to_string(*n));
        return r;
      },
      any);

  // Maintenance record: {"device":..,"failure_at":"<RFC 3339>","mode":..}.
  router.Post(
      "/api/v1/data/maintenance",
      [datastore](Request& req) {
        if (!IsOperator(req.principal()))
          return Forbidden("maintenance records need admin or operator");
        auto body = req.Json();
        MaintenanceRecord rec;
        if (!body.ok() || !body->is_object() || !(*body)["device"].is_string() ||
            !(*body)["failure_at"].is_string() ||
            !ParseTimestamp((*body)["failure_at"].get<std::string>(), &rec.failure_at)) {
          return BadRequest(R"(body must be {"device":..,"failure_at":"<RFC 3339>","mode":..})");
        }
        rec.device = (*body)["device"].get<std::string>();
        if (auto m = body->find("mode"); m != body->end() && m->is_string()) rec.mode = *m;
        Status s = datastore->AddMaintenance(rec);
        if (!s.ok()) return ErrorFor(s.error(), "maintenance record");
        return Response(http::status::created, "");
      },
      any);
}

}  // namespace aiot::registry
