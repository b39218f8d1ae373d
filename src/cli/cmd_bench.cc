// `aiot bench mqtt`: MQTT load generator against any broker (see mqtt/client/bench/).
#include <iostream>

#include "cli/command.h"
#include "mqtt/client/bench/load_generator.h"

namespace aiot::cli {
namespace {

void RegisterBench(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand("bench", "Load generators");
  cmd->require_subcommand(1);

  struct Args {
    std::vector<std::string> urls{"tcp://127.0.0.1:1883"};
    mqtt::bench::LoadOptions load;
    std::string rate = "max";
    std::string mode = "pairs";
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* m = cmd->add_subcommand(
      "mqtt",
      "MQTT load: publishers and subscribers against one or more brokers (same load on each; "
      "the ratio column compares with the first)");
  m->add_option("--url", args->urls,
                "Broker url, tcp://host:port or mqtts://host:port (repeat to compare brokers)")
      ->capture_default_str();
  m->add_option("--cafile", args->load.tls.ca,
                "mqtts://: CA (PEM) the brokers' certificates must chain to (default: the "
                "system's store)");
  m->add_option("--cert", args->load.tls.cert, "mqtts://: client certificate (PEM)");
  m->add_option("--key", args->load.tls.key, "mqtts://: client key (PEM)");
  m->add_option("--pubs", args->load.pubs, "Publishers")->capture_default_str();
  m->add_option("--subs", args->load.subs, "Subscribers")->capture_default_str();
  m->add_option("--qos", args->load.qos, "QoS of publishes and subscriptions")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();
  m->add_option("--size", args->load.size, "Payload bytes (at least 24 are sent)")
      ->capture_default_str();
  m->add_option("--rate", args->rate, "Messages/s per publisher, or max")->capture_default_str();
  m->add_option("--duration", args->load.duration_s, "Seconds of publishing")
      ->capture_default_str();
  m->add_option("--topics", args->load.topics, "Topics (0 = the mode's default)")
      ->capture_default_str();
  m->add_option("--mode", args->mode, "pairs, fanin or fanout")
      ->check(CLI::IsMember({"pairs", "fanin", "fanout"}))
      ->capture_default_str();
  m->add_option("--protocol", args->load.protocol, "MQTT version: 4 (3.1.1) or 5")
      ->check(CLI::IsMember({4u, 5u}))
      ->capture_default_str();
  m->add_option("--threads", args->load.threads, "io_contexts (0 = one per core)")
      ->capture_default_str();
  m->add_option("--window", args->load.window,
                "Messages per publisher published but not yet completed (max rate)")
      ->capture_default_str();
  m->add_option("--session-expiry", args->load.session_expiry_s,
                "v5 Session Expiry of every client, seconds (> 0: persistent sessions, which a "
                "broker with persistence writes to disk)")
      ->capture_default_str();
  m->add_flag("--json", args->json, "Print JSON instead of a table");
  m->callback([&ctx, args] {
    ctx.run = [args] {
      auto mode = mqtt::bench::ParseMode(args->mode);
      args->load.mode = *mode;
      if (args->rate == "max") {
        args->load.rate = 0;
      } else {
        try {
          args->load.rate = std::stod(args->rate);
        } catch (const std::exception&) {
          std::cerr << "--rate must be a number of messages/s or `max`, not `" << args->rate
                    << "`\n";
          return kExitUsage;
        }
      }
      std::vector<mqtt::bench::LoadReport> reports;
      for (const auto& url : args->urls) {
        auto o = args->load;
        o.url = url;
        auto r = mqtt::bench::RunLoad(o);
        if (!r.ok()) {
          std::cerr << "bench against " << url << " failed: " << r.status().message() << "\n";
          return kExitFailure;
        }
        reports.push_back(*r);
      }
      std::cout << (args->json ? mqtt::bench::FormatJson(reports)
                               : mqtt::bench::FormatTable(reports));
      return kExitOk;
    };
  });
}

}  // namespace

AIOT_COMMAND(bench, 70, RegisterBench);

}  // namespace aiot::cli
