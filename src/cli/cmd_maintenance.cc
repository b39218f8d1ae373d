// `aiot maintenance add|list`: maintenance records (failure, repair, inspection), the labels of
// the training data (the datastore's HTTP API, /api/v1/data/maintenance).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/json.h"
#include "cli/command.h"
#include "registry/api_client.h"

namespace aiot::cli {
namespace {

using net::HttpClient;
using Json = nlohmann::json;

struct MaintenanceArgs {
  registry::ApiEndpoint api;
  std::string device, kind = "failure", at, mode, note, from, to;
  int64_t limit = 100;
  bool json = false;
};

int AddRecord(Context& ctx, MaintenanceArgs& a) {
  ctx.ResolveTokenFile(a.api);
  Json body = {{"device", a.device}, {"kind", a.kind}, {"mode", a.mode}};
  body["at"] = a.at.empty() ? FormatTimestamp(SystemClock::Instance().NowNanos()) : a.at;
  if (!a.note.empty()) body["note"] = a.note;
  auto r = a.api.Client()->Call("POST", "/api/v1/data/maintenance", body.dump());
  auto j = registry::ReadReply(r, "maintenance add");
  if (!j) return kExitFailure;
  std::printf("%s %s %s at %s%s\n", r->status == 201 ? "recorded" : "already recorded:",
              json::StringOr(*j, "kind", "?").c_str(), json::StringOr(*j, "device", "?").c_str(),
              json::StringOr(*j, "at", "?").c_str(),
              a.mode.empty() ? "" : (" (" + a.mode + ")").c_str());
  return kExitOk;
}

int ListRecords(Context& ctx, MaintenanceArgs& a) {
  ctx.ResolveTokenFile(a.api);
  std::string target = "/api/v1/data/maintenance?limit=" + std::to_string(a.limit);
  for (auto [key, value] :
       {std::pair{"device", &a.device}, std::pair{"from", &a.from}, std::pair{"to", &a.to}}) {
    if (!value->empty()) target += std::string("&") + key + "=" + HttpClient::Escape(*value);
  }
  if (!a.kind.empty()) target += "&kind=" + HttpClient::Escape(a.kind);
  auto j = registry::ReadReply(a.api.Client()->Get(target), "maintenance list");
  if (!j) return kExitFailure;
  if (a.json) {
    std::cout << j->dump(2) << "\n";
    return kExitOk;
  }
  std::printf("%-26s %-20s %-11s %-16s %-14s %s\n", "AT", "DEVICE", "KIND", "MODE", "SOURCE",
              "NOTE");
  const Json* records = json::Find(*j, "records");
  for (const auto& r : records && records->is_array() ? *records : Json::array()) {
    std::printf("%-26s %-20s %-11s %-16s %-14s %s\n", json::StringOr(r, "at", "").c_str(),
                json::StringOr(r, "device", "?").c_str(), json::StringOr(r, "kind", "").c_str(),
                json::StringOr(r, "mode", "").c_str(), json::StringOr(r, "source", "").c_str(),
                json::StringOr(r, "note", "").c_str());
  }
  return kExitOk;
}

void RegisterMaintenance(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand(
      "maintenance", "Maintenance records (failure, repair, inspection): the training labels");
  cmd->require_subcommand(1);
  auto args = std::make_shared<MaintenanceArgs>();
  const std::vector<std::string> kinds = {"failure", "repair", "inspection"};

  auto* add = cmd->add_subcommand("add", "Record a failure, repair or inspection of a device");
  add->add_option("device", args->device, "Device id")->required();
  add->add_option("--kind", args->kind, "failure, repair or inspection")
      ->check(CLI::IsMember(kinds))
      ->capture_default_str();
  add->add_option("--at", args->at, "When it happened, RFC 3339 (default: now)");
  add->add_option("--mode", args->mode, "Failure mode or work done, e.g. bearing");
  add->add_option("--note", args->note, "Free text (up to 1024 bytes)");
  args->api.AddFlags(add);
  add->callback([&ctx, args] { ctx.run = [&ctx, args] { return AddRecord(ctx, *args); }; });

  auto* list = cmd->add_subcommand("list", "List maintenance records, oldest first");
  list->add_option("--device", args->device, "Only this device");
  list->add_option("--kind", args->kind, "Only this kind: failure, repair or inspection")
      ->check(CLI::IsMember(kinds));
  list->add_option("--from", args->from, "Start, RFC 3339 or unix seconds (inclusive)");
  list->add_option("--to", args->to, "End, RFC 3339 or unix seconds (exclusive)");
  list->add_option("--limit", args->limit, "At most this many (the newest), 1..10000")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  list->add_flag("--json", args->json, "Print JSON");
  args->api.AddFlags(list);
  list->callback([&ctx, args] { ctx.run = [&ctx, args] { return ListRecords(ctx, *args); }; });
  list->preparse_callback([args](size_t) { args->kind.clear(); });
}

}  // namespace

AIOT_COMMAND(maintenance, 43, RegisterMaintenance);

}  // namespace aiot::cli
