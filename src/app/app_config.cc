#include "app/app_config.h"

namespace aiot::app {

void Describe(config::Visitor& v, AppConfig& c) {
  v.Field("threads", c.threads, "Worker threads, one io_context each; 0 = one per CPU core.");
  v.Field("data_dir", c.data_dir, "Directory for state: databases, model artifacts, keys.");
  config::Section(v, "log", c.log, "Logging.");
  config::Section(v, "http", c.http, "HTTP server: API, dashboard, /healthz, /readyz, /metrics.");
  config::Section(v, "broker", c.broker, "Embedded MQTT broker (MQTT 3.1.1 and 5.0).");
  config::Section(v, "predictor", c.predictor,
                  "Streaming predictor, scoring API, alerts and actuation.");
  config::Section(v, "store", c.store, "Telemetry store (SQLite), query API, InfluxDB sink.");
  config::Section(v, "dashboard", c.dashboard, "Web dashboard.");
}

}  // namespace aiot::app
