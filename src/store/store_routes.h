#pragma once

#include "net/router.h"
#include "store/telemetry_store.h"

namespace aiot::store {

// The store's HTTP query API on the shared router:
//   GET /api/v1/series?devices=a,b&fields=rotation,score&from=-1h&to=now&bucket=60s&agg=mean
//                      &format=json|csv
//       -> {"from","to","bucket_ms","agg","series":[{"device","field","t":[ms],"v":[..]}]}
//          or CSV "time,device,<field>..." (one row per device and bucket)
//   GET /api/v1/fleet -> {"now":ms,"devices":[{"deviceID","first_seen","last_seen","online",
//                           "model","level","score","latest":{field:value}}]}
//   GET /api/v1/anomalies?from=&to=&devices=&kinds=anomaly,alert,drift&include_ok=0&limit=200
//       -> {"entries":[{"time","ts","kind","deviceID","level","score","model","data"}]} newest
//       first
//   GET /api/v1/fields -> {"fields":[...]}
// `store` must outlive the router. Handlers run on the HTTP threads and only read (WAL readers).
void RegisterStoreRoutes(net::Router& router, TelemetryStore& store);

}  // namespace aiot::store
