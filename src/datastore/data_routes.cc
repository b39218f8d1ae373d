#include "datastore/data_routes.h"

#include <charconv>
#include <sstream>

#include "base/clock.h"
#include "base/errc.h"
#include "datastore/maintenance_json.h"
#include "registry/http_api.h"

namespace aiot::datastore {
namespace {

using net::ErrorResponse;
using net::Request;
using net::Response;
namespace http = net::http;

Response Forbidden(std::string_view why) {
  return ErrorResponse(http::status::forbidden, "forbidden", why);
}
Response BadRequest(std::string_view why) {
  return ErrorResponse(http::status::bad_request, "bad_request", why);
}

// Parses a time given as RFC 3339 or as unix seconds.
bool ParseTime(std::string_view s, int64_t* nanos) {
  int64_t secs = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), secs);
  if (!s.empty() && ec == std::errc() && p == s.data() + s.size()) {
    *nanos = secs * 1'000'000'000;
    return true;
  }
  return ParseTimestamp(s, nanos);
}

// from, to and devices=a,b from the query; the datastore checks the device ids.
Result<ExportRequest> ExportRequestOf(const Request& req) {
  ExportRequest ex;
  if (auto from = req.query("from"); from && !ParseTime(*from, &ex.from)) {
    return {errc::invalid_argument, "from must be RFC 3339 or unix seconds"};
  }
  if (auto to = req.query("to"); to && !ParseTime(*to, &ex.to)) {
    return {errc::invalid_argument, "to must be RFC 3339 or unix seconds"};
  }
  if (auto list = req.query("devices"); list && !list->empty()) {
    std::string_view rest = *list;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      ex.devices.emplace_back(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return ex;
}

Response Export(TrainingDatastore& store, Request& req) {
  if (!registry::IsOperator(req.principal())) return Forbidden("export needs admin or operator");
  auto ex = ExportRequestOf(req);
  if (!ex.ok()) return BadRequest(ex.status().message());
  std::ostringstream out;
  auto n = store.ExportCsv(*ex, out);
  if (!n.ok()) return registry::ErrorFor(n.status(), "export");
  Response r(http::status::ok, out.str(), "text/csv; charset=utf-8");
  r.Header("X-Aiot-Rows", std::to_string(*n));
  return r;
}

// POST a maintenance record (maintenance_json.h): 201 when new, 200 when already recorded.
Response AddMaintenance(TrainingDatastore& store, Request& req) {
  if (!registry::IsOperator(req.principal())) {
    return Forbidden("maintenance records need admin or operator");
  }
  auto body = req.Json();
  if (!body.ok()) return BadRequest("the body must be a JSON maintenance record");
  auto rec = MaintenanceFromJson(*body);
  if (!rec.ok()) return BadRequest(rec.status().message());
  rec->source = "api:" + std::string(req.principal()->name);
  auto added = store.AddMaintenance(*rec);
  if (!added.ok()) return registry::ErrorFor(added.status(), "maintenance record");
  return net::JsonResponse(*added ? http::status::created : http::status::ok, ToJson(*rec));
}

// GET ?device=&kind=&from=&to=&limit=: {"records":[...]} oldest first. Staff read every device's
// records; a device reads its own.
Response ListMaintenance(TrainingDatastore& store, Request& req) {
  MaintenanceQuery q;
  if (auto d = req.query("device")) q.device = *d;
  std::string_view own = registry::DeviceIdOf(req.principal());
  if (!own.empty()) {
    if (!q.device.empty() && q.device != own) return Forbidden("a device reads its own records");
    q.device = own;
  }
  if (auto k = req.query("kind"); k && !k->empty()) {
    MaintenanceKind kind;
    if (!ParseMaintenanceKind(*k, &kind)) {
      return BadRequest("kind must be failure, repair or inspection");
    }
    q.kind = kind;
  }
  if (auto from = req.query("from"); from && !ParseTime(*from, &q.from)) {
    return BadRequest("from must be RFC 3339 or unix seconds");
  }
  if (auto to = req.query("to"); to && !ParseTime(*to, &q.to)) {
    return BadRequest("to must be RFC 3339 or unix seconds");
  }
  if (auto l = req.query("limit")) {
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), q.limit);
    if (ec != std::errc() || p != l->data() + l->size() || q.limit < 1 || q.limit > 10000) {
      return BadRequest("limit must be 1..10000");
    }
  }
  auto records = store.Maintenance(q);
  if (!records.ok()) return registry::ErrorFor(records.status(), "maintenance records");
  nlohmann::json out = {{"records", nlohmann::json::array()}};
  for (const auto& r : *records) out["records"].push_back(ToJson(r));
  return net::JsonResponse(http::status::ok, out);
}

}  // namespace

void RegisterDataRoutes(net::Router& router, TrainingDatastore& store) {
  const net::RouteOptions any{.auth = true, .role = {}, .max_body_bytes = 0};
  router.Get(
      "/api/v1/data/export", [&store](Request& req) { return Export(store, req); }, any);
  router.Post(
      "/api/v1/data/maintenance", [&store](Request& req) { return AddMaintenance(store, req); },
      any);
  router.Get(
      "/api/v1/data/maintenance", [&store](Request& req) { return ListMaintenance(store, req); },
      any);
}

}  // namespace aiot::datastore
