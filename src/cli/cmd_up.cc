// `aiot up`: the whole platform in one process.
#include <csignal>
#include <iostream>

#include "app/platform.h"
#include "base/log.h"
#include "cli/command.h"

namespace aiot::cli {
namespace {

// Blocks SIGINT/SIGTERM in every thread (threads inherit the mask) so that the main thread can wait
// for them with sigwait() instead of running code in a signal handler.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int RunUp(Context& ctx, const app::UpOptions& options) {
  sigset_t set = BlockStopSignals();
  app::AppConfig& config = ctx.Config();
  auto log = log::Get("app");
  app::Platform platform(config, options);
  if (!platform.Start().ok()) return kExitFailure;
  log->info("aiot is up; Ctrl-C to stop");
  int sig = 0;
  sigwait(&set, &sig);
  log->info("{} received", sig == SIGINT ? "SIGINT" : "SIGTERM");
  // A second signal while draining means "now": restore the default action and unblock.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  platform.Stop();
  return kExitOk;
}

void RegisterUp(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand("up", "Run the whole platform in one process");
  auto options = std::make_shared<app::UpOptions>();
  cmd->add_option("--simulate", options->simulate, "Also run a simulated fleet of N devices")
      ->check(CLI::Range(0, 100000));
  cmd->callback([&ctx, options] { ctx.run = [&ctx, options] { return RunUp(ctx, *options); }; });
}

}  // namespace

AIOT_COMMAND(up, 10, RegisterUp);

}  // namespace aiot::cli
