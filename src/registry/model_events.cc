#include "registry/model_events.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/log.h"

namespace aiot::registry {

std::string ModelPromotedEvent(const ModelVersion& m, const std::string& artifact_path,
                               std::string_view action) {
  return nlohmann::json{{"event", "promoted"},   {"name", m.name},     {"version", m.version},
                        {"path", artifact_path}, {"sha256", m.sha256}, {"action", action}}
      .dump();
}

void PublishModelEvents(ModelRegistry& models, std::shared_ptr<mqtt::Client> client,
                        std::string topic, std::vector<std::string> names) {
  models.SetProductionListener(
      [&models, client = std::move(client), topic = std::move(topic), names = std::move(names)](
          const ModelVersion& m, std::string_view action) {
        if (!names.empty() && std::find(names.begin(), names.end(), m.name) == names.end()) return;
        auto log = log::Get("registry");
        Status s = client->Publish(
            topic, mqtt::SharedBytes(ModelPromotedEvent(m, models.ArtifactPath(m.sha256), action)),
            {.qos = mqtt::QoS::kAtLeastOnce, .retain = false, .properties = {}});
        if (!s.ok()) {
          log->error("cannot publish the promotion of {}@{} on {}: {}", m.name, m.version, topic,
                     s.message());
          return;
        }
        log->info("{}@{} in production ({}): published on {}", m.name, m.version, action, topic);
      });
}

}  // namespace aiot::registry
