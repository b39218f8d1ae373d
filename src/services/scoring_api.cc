#include "services/scoring_api.h"

#include <nlohmann/json.hpp>

namespace aiot::services {

namespace {

Thresholds EffectiveThresholds(const ScoringModel& model, const ThresholdConfig& config) {
  if (config.from_model) {
    if (auto t = model.thresholds()) return *t;
  }
  return Thresholds{config.warning, config.critical};
}

net::Response Score(net::Request& req, ModelHolder& models, const ThresholdConfig& thresholds,
                    ScoreRequestLimits limits) {
  ModelPtr model = models.Get();
  if (!model) {
    return net::ErrorResponse(net::http::status::service_unavailable, "unavailable",
                              "no model loaded");
  }
  thread_local ScoreRequestParser parser(limits);
  thread_local std::vector<float> scores;
  if (!parser.Parse(req.body(), model->input_size())) {
    return net::ErrorResponse(net::http::status::bad_request, "invalid_argument", parser.error());
  }
  const size_t n = parser.row_count();
  scores.resize(n);
  Status st = model->Score(parser.rows().data(), n, scores.data());
  if (!st.ok()) {
    return net::ErrorResponse(net::http::status::internal_server_error, "internal",
                              "model " + model->name() + " failed: " + st.message());
  }
  const Thresholds t = EffectiveThresholds(*model, thresholds);
  net::Response res;
  res.content_type = "application/json";
  std::string& out = res.body;
  if (!parser.batch()) {
    out.reserve(96);
    AppendScoreResult(out, scores[0], t, model->name());
  } else {
    out.reserve(16 + n * 80);
    out.append("{\"predictions\":[");
    for (size_t i = 0; i < n; ++i) {
      if (i) out.push_back(',');
      AppendScoreResult(out, scores[i], t, model->name());
    }
    out.append("]}");
  }
  return res;
}

}  // namespace

void RegisterScoringRoutes(net::Router& router, ModelHolder& models,
                           const ThresholdConfig& thresholds, ScoreRequestLimits limits) {
  auto handler = [&models, thresholds, limits](net::Request& req) {
    return Score(req, models, thresholds, limits);
  };
  net::RouteOptions options;
  options.max_body_bytes = limits.max_body_bytes;
  router.Post("/score", net::SyncHandler(handler), options);
  router.Post("/api/v1/score", net::SyncHandler(handler), options);
  router.Get("/api/v1/predictor/model", net::SyncHandler([&models, thresholds](net::Request&) {
               ModelPtr model = models.Get();
               if (!model) {
                 return net::ErrorResponse(net::http::status::service_unavailable, "unavailable",
                                           "no model loaded");
               }
               const Thresholds t = EffectiveThresholds(*model, thresholds);
               nlohmann::json body = {
                   {"model", model->name()},
                   {"features", model->features()},
                   {"inputs", model->input_size()},
                   {"thresholds", {{"warning", t.warning}, {"critical", t.critical}}},
                   {"swaps", models.swaps()},
               };
               return net::JsonResponse(body);
             }));
}

}  // namespace aiot::services
