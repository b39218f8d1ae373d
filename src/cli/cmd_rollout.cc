// `aiot rollout start|status|abort`: OTA model rollouts.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

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
  std::printf("%s  %s@%lld  %s  ok=%d failed=%d sent=%d pending=%d rolled_back=%d\n",
              r["id"].get<std::string>().c_str(), r["model"].get<std::string>().c_str(),
              static_cast<long long>(r["version"].get<int64_t>()),
              r["state"].get<std::string>().c_str(), r["counts"]["ok"].get<int>(),
              r["counts"]["failed"].get<int>(), r["counts"]["sent"].get<int>(),
              r["counts"]["pending"].get<int>(), r["counts"]["rolled_back"].get<int>());
  if (r.contains("resumed_at") && r["resumed_at"].is_string()) {
    std::printf("  resumed after a platform restart at %s\n",
                r["resumed_at"].get<std::string>().c_str());
  }
  if (!r["reason"].get<std::string>().empty()) {
    std::printf("  reason: %s\n", r["reason"].get<std::string>().c_str());
  }
  if (r.contains("devices")) {
    for (const auto& d : r["devices"]) {
      if (d["state"] == "failed") {
        std::printf("  %s failed: %s\n", d["device"].get<std::string>().c_str(),
                    d["error"].get<std::string>().c_str());
      }
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
      if (int rc = registry::CheckReply(r, "rollout start")) return rc;
      auto j = Json::parse(r->body);
      if (args->json) {
        std::cout << j.dump(2) << "\n";
      } else {
        PrintRollout(j);
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
      if (int rc = registry::CheckReply(r, "rollout status")) return rc;
      auto j = Json::parse(r->body);
      if (args->json) {
        std::cout << j.dump(2) << "\n";
      } else if (j.contains("rollouts")) {
        for (const auto& x : j["rollouts"]) PrintRollout(x);
      } else {
        PrintRollout(j);
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
      if (int rc = registry::CheckReply(r, "rollout abort")) return rc;
      PrintRollout(Json::parse(r->body));
      return kExitOk;
    };
  });
}

}  // namespace

AIOT_COMMAND(rollout, 43, RegisterRollout);

}  // namespace aiot::cli
