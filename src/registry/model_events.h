#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mqtt/client/client.h"
#include "registry/model_registry.h"

namespace aiot::registry {

// The model event the predictor follows (src/services/README.md, "Model events and hot swap"):
// {"event":"promoted","name":"fan-mlp","version":3,"path":"<artifact file>","sha256":"<hex>",
//  "action":"promote"|"rollback"}
std::string ModelPromotedEvent(const ModelVersion& m, const std::string& artifact_path,
                               std::string_view action);

// Makes `models` publish a "promoted" event on `topic` (QoS 1, not retained) through `client`
// whenever a version of one of `names` (all names when empty) goes to production: promoted over
// the HTTP API, the CLI or in code, or put back by a rollback. `path` is the registry's artifact
// file, so the subscriber must share the registry's file system (as in `aiot up`). The client is
// shared; publishing on a stopped client only logs.
void PublishModelEvents(ModelRegistry& models, std::shared_ptr<mqtt::Client> client,
                        std::string topic = "aiot/events/model",
                        std::vector<std::string> names = {});

}  // namespace aiot::registry
