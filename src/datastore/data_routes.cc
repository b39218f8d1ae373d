#include "datastore/data_routes.h"

#include <charconv>
#include <sstream>

#include "base/clock.h"
#include "base/errc.h"
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

// Maintenance record: {"device":..,"failure_at":"<RFC 3339>","mode":..}.
Response AddMaintenance(TrainingDatastore& store, Request& req) {
  if (!registry::IsOperator(req.principal())) {
    return Forbidden("maintenance records need admin or operator");
  }
  auto body = req.Json();
  MaintenanceRecord rec;
  if (!body.ok() || !body->is_object() || !(*body)["device"].is_string() ||
      !(*body)["failure_at"].is_string() ||
      !ParseTimestamp((*body)["failure_at"].get<std::string>(), &rec.failure_at)) {
    return BadRequest(R"(body must be {"device":..,"failure_at":"<RFC 3339>","mode":..})");
  }
  rec.device = (*body)["device"].get<std::string>();
  if (auto m = body->find("mode"); m != body->end() && m->is_string()) rec.mode = *m;
  Status s = store.AddMaintenance(rec);
  if (!s.ok()) return registry::ErrorFor(s, "maintenance record");
  return Response(http::status::created, "");
}

}  // namespace

void RegisterDataRoutes(net::Router& router, TrainingDatastore& store) {
  const net::RouteOptions any{.auth = true, .role = {}, .max_body_bytes = 0};
  router.Get(
      "/api/v1/data/export", [&store](Request& req) { return Export(store, req); }, any);
  router.Post(
      "/api/v1/data/maintenance", [&store](Request& req) { return AddMaintenance(store, req); },
      any);
}

}  // namespace aiot::datastore
