// `aiot data export`: training data from the platform's datastore as CSV for `aiot train`.
#include <iostream>

#include "base/file.h"
#include "cli/command.h"
#include "registry/api_client.h"

namespace aiot::cli {
namespace {

using net::HttpClient;

struct DataArgs {
  registry::ApiEndpoint api;
  std::string from, to, devices, out;
};

void RegisterData(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand("data", "Training datastore");
  cmd->require_subcommand(1);
  auto args = std::make_shared<DataArgs>();
  auto* ex = cmd->add_subcommand(
      "export",
      "Export labelled telemetry as CSV (DeviceID,Time,<fields.features>,<fields.label>)");
  ex->add_option("--from", args->from, "Start, RFC 3339 or unix seconds (inclusive)");
  ex->add_option("--to", args->to, "End, RFC 3339 or unix seconds (exclusive)");
  ex->add_option("--devices", args->devices, "Comma-separated device ids (default: all)");
  ex->add_option("-o,--output", args->out, "Output file (default: stdout)");
  args->api.AddFlags(ex);
  ex->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      std::string target = "/api/v1/data/export?";
      if (!args->from.empty()) target += "from=" + HttpClient::Escape(args->from) + "&";
      if (!args->to.empty()) target += "to=" + HttpClient::Escape(args->to) + "&";
      if (!args->devices.empty()) target += "devices=" + HttpClient::Escape(args->devices);
      auto r = args->api.Client()->Get(target);
      if (int rc = registry::CheckReply(r, "data export")) return rc;
      if (args->out.empty()) {
        std::cout << r->body;
      } else {
        if (Status s = WriteFileAtomic(args->out, r->body); !s.ok()) {
          std::cerr << "aiot: data export: " << s.message() << "\n";
          return kExitFailure;
        }
        std::cerr << "wrote " << r->header("x-aiot-rows") << " rows to " << args->out << "\n";
      }
      return kExitOk;
    };
  });
}

}  // namespace

AIOT_COMMAND(data, 42, RegisterData);

}  // namespace aiot::cli
