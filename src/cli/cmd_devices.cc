// `aiot devices list|provision|show|decommission`: the device registry's HTTP API.
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

struct DevicesArgs {
  registry::ApiEndpoint api;
  std::string id, type = "fan", firmware, label;
  std::vector<std::string> labels;
  bool json = false, all = false;
};

void AddDevicesList(CLI::App* cmd, Context& ctx, const std::shared_ptr<DevicesArgs>& args) {
  auto* list = cmd->add_subcommand("list", "List devices");
  list->add_option("--label", args->label, "Label selector, e.g. site:north,line:3");
  list->add_flag("--all", args->all, "Include decommissioned devices");
  list->add_flag("--json", args->json, "Print JSON");
  args->api.AddFlags(list);
  list->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      std::string target = "/api/v1/devices?all=" + std::string(args->all ? "true" : "false");
      if (!args->label.empty()) target += "&label=" + HttpClient::Escape(args->label);
      auto r = args->api.Client()->Get(target);
      auto j = registry::ReadReply(r, "devices list");
      if (!j) return kExitFailure;
      if (args->json) {
        std::cout << j->dump(2) << "\n";
        return kExitOk;
      }
      std::printf("%-20s %-8s %-15s %-7s %-16s %-16s %s\n", "ID", "TYPE", "STATE", "ONLINE",
                  "MODEL", "DESIRED", "LABELS");
      const Json* devices = json::Find(*j, "devices");
      for (const auto& d : devices && devices->is_array() ? *devices : Json::array()) {
        std::string labels;
        if (const Json* l = json::Find(d, "labels")) {
          for (auto& [k, v] : l->items()) {
            labels += (labels.empty() ? "" : ",") + k + ":" +
                      (v.is_string() ? v.get<std::string>() : v.dump());
          }
        }
        std::printf("%-20s %-8s %-15s %-7s %-16s %-16s %s\n", json::StringOr(d, "id", "?").c_str(),
                    json::StringOr(d, "type", "").c_str(), json::StringOr(d, "state", "").c_str(),
                    json::Bool(d, "online").value_or(false) ? "yes" : "no",
                    json::StringOr(d, "reported_model", "").c_str(),
                    json::StringOr(d, "desired_model", "").c_str(), labels.c_str());
      }
      return kExitOk;
    };
  });
}

void AddDevicesProvision(CLI::App* cmd, Context& ctx, const std::shared_ptr<DevicesArgs>& args) {
  auto* provision =
      cmd->add_subcommand("provision", "Register a device and print its credentials (shown once)");
  provision->add_option("id", args->id, "Device id")->required();
  provision->add_option("--type", args->type, "Device type")->capture_default_str();
  provision->add_option("--label", args->labels, "Label key:value (repeatable)");
  provision->add_option("--firmware", args->firmware, "Firmware version");
  args->api.AddFlags(provision);
  provision->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      Json labels = Json::object();
      for (const auto& l : args->labels) {
        size_t sep = l.find_first_of(":=");
        if (sep == std::string::npos) {
          std::cerr << "aiot: devices provision: --label must be key:value\n";
          return kExitUsage;
        }
        labels[l.substr(0, sep)] = l.substr(sep + 1);
      }
      Json body = {
          {"id", args->id}, {"type", args->type}, {"labels", labels}, {"firmware", args->firmware}};
      auto r = args->api.Client()->Call("POST", "/api/v1/devices", body.dump());
      auto j = registry::ReadReply(r, "devices provision");
      if (!j) return kExitFailure;
      std::cout << j->dump(2) << "\n";
      return kExitOk;
    };
  });
}

void AddDevicesShow(CLI::App* cmd, Context& ctx, const std::shared_ptr<DevicesArgs>& args) {
  auto* show = cmd->add_subcommand("show", "Show one device");
  show->add_option("id", args->id, "Device id")->required();
  args->api.AddFlags(show);
  show->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      auto r = args->api.Client()->Get("/api/v1/devices/" + HttpClient::Escape(args->id));
      auto j = registry::ReadReply(r, "devices show");
      if (!j) return kExitFailure;
      std::cout << j->dump(2) << "\n";
      return kExitOk;
    };
  });
}

void AddDevicesDecommission(CLI::App* cmd, Context& ctx, const std::shared_ptr<DevicesArgs>& args) {
  auto* decommission = cmd->add_subcommand("decommission", "Revoke a device's credentials (admin)");
  decommission->add_option("id", args->id, "Device id")->required();
  args->api.AddFlags(decommission);
  decommission->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      auto r =
          args->api.Client()->Call("DELETE", "/api/v1/devices/" + HttpClient::Escape(args->id));
      if (int rc = registry::CheckReply(r, "devices decommission")) return rc;
      std::cout << args->id << " decommissioned\n";
      return kExitOk;
    };
  });
}
void RegisterDevices(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand("devices", "Device registry: list, provision, show");
  cmd->require_subcommand(1);
  auto args = std::make_shared<DevicesArgs>();
  AddDevicesList(cmd, ctx, args);
  AddDevicesProvision(cmd, ctx, args);
  AddDevicesShow(cmd, ctx, args);
  AddDevicesDecommission(cmd, ctx, args);
}

}  // namespace

AIOT_COMMAND(devices, 41, RegisterDevices);

}  // namespace aiot::cli
