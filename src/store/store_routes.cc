#include "store/store_routes.h"

#include <map>

#include "base/errc.h"
#include "base/log.h"
#include "store/query.h"

namespace aiot::store {
namespace {

namespace http = net::http;
using nlohmann::json;

int64_t NowMs(const TelemetryStore& store) { return store.clock().NowNanos() / 1000000; }

// The response to a failed query, where the store's errors are handled: a bad request is the
// client's to fix; anything else is logged here with its message (the body names only the code).
net::Response Error(const Status& st, std::string_view what) {
  if (st.code() == errc::invalid_argument) {
    return net::ErrorResponse(http::status::bad_request, "invalid_argument", what);
  }
  if (st.code() == errc::out_of_range) {
    return net::ErrorResponse(http::status::bad_request, "too_many_points",
                              "the result would be too large; narrow the range or use a bucket");
  }
  log::Get("store")->error("{}: {}", what, st.ToString());
  return net::ErrorResponse(http::status::internal_server_error, "store_error",
                            st.code().message());
}

net::Response NoStore(net::Response r) {
  r.Header("Cache-Control", "no-store");
  return r;
}

json Number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

net::Response ServeSeries(TelemetryStore& store, net::Request& req) {
  std::map<std::string, std::string> params;
  for (const auto& [k, v] : req.query_params()) params[k] = v;
  auto q = ParseSeriesQuery(params, NowMs(store));
  if (!q) {
    return Error(q.status(),
                 "bad query: devices, fields, from/to (RFC 3339, epoch ms, now, -1h), bucket "
                 "(60s, 5m, 1h), agg (mean|min|max|last|count|sum), limit, format (json|csv)");
  }
  std::string format = params.count("format") ? params["format"] : "json";
  if (format != "json" && format != "csv") {
    return net::ErrorResponse(http::status::bad_request, "invalid_argument",
                              "format must be json or csv");
  }
  auto r = store.Query(*q);
  if (!r) return Error(r.status(), "series query failed");
  net::Response resp;
  if (format == "csv") {
    resp.body = FormatSeriesCsv(*r);
    resp.content_type = "text/csv; charset=utf-8";
  } else {
    resp.body = FormatSeriesJson(*r);
    resp.content_type = "application/json";
  }
  resp.Header("Cache-Control", "no-store");
  return resp;
}

net::Response ServeDevices(TelemetryStore& store) {
  auto devices = store.Devices();
  if (!devices) return Error(devices.status(), "devices query failed");
  json list = json::array();
  for (const auto& d : *devices) {
    json latest = json::object();
    for (const auto& [k, v] : d.latest) latest[k] = Number(v);
    json status = nullptr;
    if (!d.status_json.empty()) {
      status = json::parse(d.status_json, nullptr, false);
      if (status.is_discarded()) status = nullptr;
    }
    list.push_back(
        {{"deviceID", d.name},
         {"first_seen", d.first_seen_ms},
         {"last_seen", d.last_seen_ms ? json(d.last_seen_ms) : json(nullptr)},
         {"last_seen_time",
          d.last_seen_ms ? json(FormatTimestamp(d.last_seen_ms * 1000000)) : json(nullptr)},
         {"online", d.has_status ? json(d.online) : json(nullptr)},
         {"model", d.model.empty() ? json(nullptr) : json(d.model)},
         {"level", LevelName(d.level)},
         {"score", Number(d.score)},
         {"latest", latest},
         {"status", status}});
  }
  return NoStore(net::JsonResponse(json{{"now", NowMs(store)}, {"devices", list}}));
}

net::Response ServeAnomalies(TelemetryStore& store, net::Request& req) {
  TimelineQuery q;
  const int64_t now = NowMs(store);
  q.from_ms = now - 86400000;
  q.to_ms = now + 60000;
  q.limit = 200;
  for (const auto& [k, v] : req.query_params()) {
    bool ok = true;
    if (k == "from") {
      ok = ParseTimeParam(v, now, &q.from_ms);
    } else if (k == "to") {
      ok = ParseTimeParam(v, now, &q.to_ms);
    } else if (k == "devices" || k == "device") {
      q.devices = SplitList(v);
    } else if (k == "kinds" || k == "kind") {
      q.kinds = SplitList(v);
    } else if (k == "include_ok") {
      q.include_ok = v == "1" || v == "true";
    } else if (k == "limit") {
      char* end = nullptr;
      q.limit = std::strtoll(v.c_str(), &end, 10);
      ok = end && *end == '\0' && q.limit > 0 && q.limit <= 100000;
    } else {
      ok = false;
    }
    if (!ok) {
      return net::ErrorResponse(
          http::status::bad_request, "invalid_argument",
          "parameters: from, to, devices, kinds, include_ok, limit (1..100000)");
    }
  }
  auto entries = store.Timeline(q);
  if (!entries) return Error(entries.status(), "timeline query failed");
  json list = json::array();
  for (const auto& e : *entries) {
    json data = nullptr;
    if (!e.json.empty()) {
      data = json::parse(e.json, nullptr, false);
      if (data.is_discarded()) data = nullptr;
    }
    list.push_back({{"ts", e.ts_ms},
                    {"time", FormatTimestamp(e.ts_ms * 1000000)},
                    {"kind", e.kind},
                    {"deviceID", e.device.empty() ? json(nullptr) : json(e.device)},
                    {"level", LevelName(e.level)},
                    {"score", Number(e.score)},
                    {"model", e.model.empty() ? json(nullptr) : json(e.model)},
                    {"data", data}});
  }
  return NoStore(net::JsonResponse(json{{"entries", list}}));
}

}  // namespace

void RegisterStoreRoutes(net::Router& router, TelemetryStore& store) {
  router.Get("/api/v1/series", [&store](net::Request& req) { return ServeSeries(store, req); });
  router.Get("/api/v1/fleet", [&store](net::Request&) { return ServeDevices(store); });
  router.Get("/api/v1/anomalies",
             [&store](net::Request& req) { return ServeAnomalies(store, req); });
  router.Get("/api/v1/fields", [&store](net::Request&) {
    return net::JsonResponse(json{{"fields", store.FieldNames()}});
  });
}

}  // namespace aiot::store
