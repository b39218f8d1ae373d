// `aiot up`: the whole platform in one process.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <set>
#include <string_view>

#include "app/platform.h"
#include "base/log.h"
#include "cli/command.h"
#include "sim/sim_config.h"

namespace aiot::cli {
namespace {

// Blocks SIGINT/SIGTERM (and SIGHUP, reload) in every thread (threads inherit the mask) so that
// the main thread can wait for them with sigwait() instead of running code in a signal handler.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// The service manager's notify protocol (sd_notify(3), systemd's Type=notify) without libsystemd:
// one datagram with `state` to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or '@' for the
// abstract namespace). Nothing when the variable is unset (not started by a service manager).
void NotifyServiceManager(std::string_view state) {
  const char* socket_path = std::getenv("NOTIFY_SOCKET");
  if (!socket_path || (socket_path[0] != '/' && socket_path[0] != '@')) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(socket_path);
  if (len >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, socket_path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  if (sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
             size) < 0) {
    log::Get("app")->warn("could not notify the service manager on {}: {}", socket_path,
                          std::strerror(errno));
  }
  close(fd);
}

// The keys of app::SimulateDemoDefaults that a source (file, environment, --set) set: the sources
// are applied again over two configurations holding values for those keys that differ from each
// other (for a bool, its two values), so a key a source set comes out the same in both and one
// no source set keeps the two different values.
std::set<std::string> ConfiguredDemoKeys(Context& ctx) {
  const config::Sources sources = ctx.ConfigSources();
  auto probe = [&](bool flip) {
    app::AppConfig c;
    c.pipeline.enabled = flip;
    c.fleet.state_dir = flip ? "\x01a" : "\x01b";
    c.fleet.registry_url = flip ? "\x01a" : "\x01b";
    c.fleet.provision_token = flip ? "\x01a" : "\x01b";
    c.ota.public_url = flip ? "\x01a" : "\x01b";
    c.datastore.label_window_s = flip ? -1 : -2;
    c.fleet.physics.recurring_faults = flip;
    c.pipeline.triggers.drift.delay_s = flip ? -1 : -2;
    c.pipeline.triggers.drift.min_new_positives = flip ? -1 : -2;
    c.pipeline.params = {{"\x01", flip ? "a" : "b"}};
    (void)config::Load(sources, config::DescriberFor(c));  // problems: Config() reported them
    return c;
  };
  const app::AppConfig a = probe(true), b = probe(false);
  std::set<std::string> keys;
  if (a.pipeline.enabled == b.pipeline.enabled) keys.insert("pipeline.enabled");
  if (a.fleet.state_dir == b.fleet.state_dir) keys.insert("fleet.state_dir");
  if (a.fleet.registry_url == b.fleet.registry_url) keys.insert("fleet.registry_url");
  if (a.fleet.provision_token == b.fleet.provision_token) keys.insert("fleet.provision_token");
  if (a.ota.public_url == b.ota.public_url) keys.insert("ota.public_url");
  if (a.datastore.label_window_s == b.datastore.label_window_s) {
    keys.insert("datastore.label_window_s");
  }
  if (a.fleet.physics.recurring_faults == b.fleet.physics.recurring_faults) {
    keys.insert("fleet.physics.recurring_faults");
  }
  if (a.pipeline.triggers.drift.delay_s == b.pipeline.triggers.drift.delay_s) {
    keys.insert("pipeline.triggers.drift.delay_s");
  }
  if (a.pipeline.triggers.drift.min_new_positives == b.pipeline.triggers.drift.min_new_positives) {
    keys.insert("pipeline.triggers.drift.min_new_positives");
  }
  if (a.pipeline.params == b.pipeline.params) keys.insert("pipeline.params");
  return keys;
}

int RunUp(Context& ctx, const app::UpOptions& options, const std::vector<std::string>& regimes) {
  app::AppConfig& config = ctx.Config();
  auto& changes = config.fleet.regime_changes;
  changes.insert(changes.end(), regimes.begin(), regimes.end());
  if (auto physics = sim::PhysicsWithRegimes(config.fleet); !physics.ok()) {
    std::cerr << "aiot up: --regime: " << physics.status().message() << "\n";
    return kExitUsage;
  }
  sigset_t set = BlockStopSignals();
  auto log = log::Get("app");
  app::UpOptions up = options;
  if (options.simulate > 0) {
    up.configured = [keys = ConfiguredDemoKeys(ctx)](const std::string& key) {
      return keys.count(key) > 0;
    };
  }
  app::Platform platform(config, up);
  if (!platform.Start().ok()) return kExitFailure;
  log->info("aiot is up; Ctrl-C to stop");
  NotifyServiceManager("READY=1\nSTATUS=aiot is up");
  int sig = 0;
  // SIGHUP re-reads the broker's password/ACL files and the TLS certificates (broker and HTTPS).
  while (sigwait(&set, &sig) == 0 && sig == SIGHUP) (void)platform.Reload();
  log->info("{} received", sig == SIGINT ? "SIGINT" : "SIGTERM");
  NotifyServiceManager("STOPPING=1");
  // A second signal while draining means "now": restore the default action and unblock.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  sigdelset(&set, SIGHUP);  // stays blocked: a reload while draining is ignored
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  platform.Stop();
  return kExitOk;
}

void RegisterUp(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand("up", "Run the whole platform in one process");
  auto options = std::make_shared<app::UpOptions>();
  cmd->add_option("--simulate", options->simulate, "Also run a simulated fleet of N devices")
      ->check(CLI::Range(0, 100000));
  auto regimes = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--regime", *regimes,
                  "Change the simulated fleet's operating regime (repeatable, after "
                  "fleet.regime_changes), e.g. \"at=10m vibration_scale=1.6 ambient_c=35\"");
  cmd->callback([&ctx, options, regimes] {
    ctx.run = [&ctx, options, regimes] { return RunUp(ctx, *options, *regimes); };
  });
}

}  // namespace

AIOT_COMMAND(up, 10, RegisterUp);

}  // namespace aiot::cli
