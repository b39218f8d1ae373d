#pragma once

#include "datastore/datastore.h"
#include "net/router.h"

namespace aiot::datastore {

// GET /api/v1/data/export?from=&to=&devices=a,b (CSV, X-Aiot-Rows) and
// POST /api/v1/data/maintenance {"device":..,"failure_at":"<RFC 3339>","mode":..}, for admin and
// operator (the registry's roles, registry/http_api.h). Errors are the registry API's
// {"error":{"code":..,"message":..}}. `store` must outlive the router.
void RegisterDataRoutes(net::Router& router, TrainingDatastore& store);

}  // namespace aiot::datastore
