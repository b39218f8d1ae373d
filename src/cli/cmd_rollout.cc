// `aiot rollout start|status|abort`: OTA model rollouts.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "cli/command.h"
#include "registry/api_client.h"

namespace aiot::cli {
namespace {

using net::HttpClient;
using Json = nlohmann::json;

struct RolloutArgs {
  registry::ApiEndpoint api;
  std::string model, selector, id;
  std::vector<std::string> devices;
  int64_t version = 0;
  double canary = -1, threshold = -1;
  int soak = -1;
  bool json = false;
};

void PrintRollout(const Json& r) {
  static const Json kNone = Json::object();
  const Json* counts = json::Find(r, "counts");
  const Json& c = counts ? *counts : kNone;
  auto count = [&c](const char* key) {
    return static_cast<long long>(json::Int(c, key).value_or(0));
  };
  std::printf("%s  %s@%lld  %s  ok=%lld failed=%lld sent=%lld pending=%lld rolled_back=%lld\n",
              json::StringOr(r, "id", "?").c_str(), json::StringOr(r, "model", "?").c_str(),
              static_cast<long long>(json::Int(r, "version").value_or(0)),
              json::StringOr(r, "state", "?").c_str(), count("ok"), count("failed"), count("sent"),
              count("pending"), count("rolled_back"));
  if (auto at = json::String(r, "resumed_at")) {
    std::printf("  resumed after a platform restart at %s\n", at->c_str());
  }
  if (std::string reason = json::StringOr(r, "reason", ""); !reason.empty()) {
    std::printf("  reason: %s\n", reason.c_str());
  }
  const Json* devices = json::Find(r, "devices");
  if (devices == nullptr || !devices->is_array()) return;
  for (const auto& d : *devices) {
    if (json::StringOr(d, "state", "") == "failed") {
      std::printf("  %s failed: %s\n", json::StringOr(d, "device", "?").c_str(),
                  json::StringOr(d, "error", "").c_str());
    }
  }
}

void RegisterRollout(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand("rollout", "OTA model rollouts: start, status, abort");
  cmd->require_subcommand(1);
  auto args = std::make_shared<RolloutArgs>();

  auto* start = cmd->add_subcommand("start", "Roll a model version out, canary first");
  start->add_option("--model", args->model, "Model name")->required();
  start->add_option("--version", args->version, "Model version")->required();
  start->add_option("--selector", args->selector, "Label selector, e.g. site:north");
  start->add_option("--device", args->devices, "Device id (repeatable; instead of --selector)");
  start->add_option("--canary", args->canary, "Canary percent (default from the server config)");
  start->add_option("--threshold", args->threshold,
                    "Halt when more than this fraction of the canary fails");
  start->add_option("--soak", args->soak,
                    "Seconds the canary must stay healthy before the rest (default from the "
                    "server config)");
  start->add_flag("--json", args->json, "Print JSON");
  args->api.AddFlags(start);
  start->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      Json body = {{"model", args->model}, {"version", args->version}};
      if (!args->selector.empty()) body["selector"] = args->selector;
      if (!args->devices.empty()) body["devices"] = args->devices;
      if (args->canary >= 0) body["canary_percent"] = args->canary;
      if (args->threshold >= 0) body["failure_threshold"] = args->threshold;
      if (args->soak >= 0) body["canary_soak_s"] = args->soak;
      auto r = args->api.Client()->Call("POST", "/api/v1/rollouts", body.dump());
      auto j = registry::ReadReply(r, "rollout start");
      if (!j) return kExitFailure;
      if (args->json) {
        std::cout << j->dump(2) << "\n";
      } else {
        PrintRollout(*j);
      }
      return kExitOk;
    };
  });

  auto* status = cmd->add_subcommand("status", "Show one rollout, or list them");
  status->add_option("id", args->id, "Rollout id (default: all)");
  status->add_flag("--json", args->json, "Print JSON");
  args->api.AddFlags(status);
  status->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      std::string target = "/api/v1/rollouts";
      if (!args->id.empty()) target += "/" + HttpClient::Escape(args->id);
      auto r = args->api.Client()->Get(target);
      auto j = registry::ReadReply(r, "rollout status");
      if (!j) return kExitFailure;
      const Json* list = json::Find(*j, "rollouts");
      if (args->json) {
        std::cout << j->dump(2) << "\n";
      } else if (list != nullptr && list->is_array()) {
        for (const auto& x : *list) PrintRollout(x);
      } else {
        PrintRollout(*j);
      }
      return kExitOk;
    };
  });

  auto* abort = cmd->add_subcommand("abort", "Stop a rollout (updated devices keep the model)");
  abort->add_option("id", args->id, "Rollout id")->required();
  args->api.AddFlags(abort);
  abort->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      auto r = args->api.Client()->Call(
          "POST", "/api/v1/rollouts/" + HttpClient::Escape(args->id) + "/abort");
      auto j = registry::ReadReply(r, "rollout abort");
      if (!j) return kExitFailure;
      PrintRollout(*j);
      return kExitOk;
    };
  });
}

}  // namespace

AIOT_COMMAND(rollout, 43, RegisterRollout);

}  // namespace aiot::cli
