#include "app/app_config.h"

namespace aiot::app {

void Describe(config::Visitor& v, AppConfig& c) {
  v.Field("threads", c.threads, "Worker threads, one io_context each; 0 = one per CPU core.");
  v.Field("data_dir", c.data_dir, "Directory for state: databases, model artifacts, keys.");
  config::Section(v, "log", c.log, "Logging.");
  config::Section(v, "http", c.http, "HTTP server: API, dashboard, /healthz, /readyz, /metrics.");
}

}  // namespace aiot::app
