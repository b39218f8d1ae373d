#pragma once

#include "net/router.h"
#include "services/model.h"
#include "services/predictor_config.h"
#include "services/score_request.h"

namespace aiot::services {

// The reference-compatible scoring API, served by the model in `models` (swaps take effect on
// the next request):
//   POST /score  {"params":[rotation,temperature,vibration,sound]}
//                -> {"fault":1,"score":0.97,"level":"critical","model":"fan-mlp@3"}
//   POST /score  {"instances":[[...],[...]]} -> {"predictions":[{...},{...}]}
//   POST /api/v1/score  the same
//   GET  /api/v1/predictor/model -> {"model":..,"features":[..],"thresholds":{..}}
// Bad input gets 400 {"error":{"code":"invalid_argument","message":"..."}}; no model loaded 503.
// `models` must outlive the server. Handlers run on the server's threads (one parser each).
void RegisterScoringRoutes(net::Router& router, ModelHolder& models,
                           const ThresholdConfig& thresholds, ScoreRequestLimits limits = {});

}  // namespace aiot::services
