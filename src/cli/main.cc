#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "base/config.h"
#include "base/log.h"
#include "cli/command.h"

extern char** environ;

namespace aiot::cli {

std::vector<RegisteredCommand>& Commands() {
  static std::vector<RegisteredCommand> commands;
  return commands;
}

CommandRegistrar::CommandRegistrar(const char* name, int order, RegisterFn fn) {
  Commands().push_back({name, order, fn});
}

void Context::InitLogging() {
  // The `log` section (per-module levels, format) applies to every subcommand, also to those
  // that need no other configuration. A configuration they cannot load is reported, not fatal:
  // the commands that use it fail on it with the full message.
  try {
    Config();
    return;
  } catch (const config::Error& e) {
    log::LogConfig lc;
    if (!log_format.empty()) lc.format = log_format;
    if (!log_level.empty()) lc.level = log_level;
    log::Init(lc);
    log::Get("config")->warn("configuration not applied to logging: {}", e.what());
  }
}

app::AppConfig& Context::Config() {
  if (config_) return *config_;
  app::AppConfig cfg;
  auto describe = config::DescriberFor(cfg);
  std::string file = config_file;
  if (file.empty()) {
    if (const char* env = std::getenv("AIOT_CONFIG")) file = env;
  }
  if (!file.empty()) config::LoadYamlFile(file, describe);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  auto unknown = config::ApplyEnvironment(env, describe);
  config::ApplyAssignments(sets, describe);
  // One field schema for every consumer (store, datastore, predictor, dashboard, replay).
  if (auto fields = app::ResolveFields(cfg); !fields.ok()) {
    throw config::Error(fields.status().message());
  }
  if (!log_format.empty()) cfg.log.format = log_format;
  if (!log_level.empty()) cfg.log.level = log_level;
  log::Init(cfg.log);
  for (const auto& name : unknown) {
    log::Get("config")->warn("environment variable {} matches no configuration key; ignored", name);
  }
  config_ = std::move(cfg);
  return *config_;
}

int Main(int argc, char** argv) {
  CLI::App app{"aiot: edge AIoT platform for predictive maintenance of fans, motors and pumps.",
               "aiot"};
  app.require_subcommand(1);
  app.fallthrough();
  Context ctx;
  app.add_option("-c,--config", ctx.config_file, "Configuration file (YAML); also AIOT_CONFIG");
  app.add_option("--set", ctx.sets, "Override one key: --set section.key=value (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  app.add_option("--log-format", ctx.log_format, "Log output: text, json or auto")
      ->check(CLI::IsMember({"text", "json", "auto"}));
  app.add_option("--log-level", ctx.log_level, "Default log level (trace..critical, off)");

  auto& commands = Commands();
  std::sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) {
    return a.order != b.order ? a.order < b.order : std::string_view(a.name) < b.name;
  });
  for (const auto& c : commands) c.fn(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    ctx.InitLogging();
    if (!ctx.run) return kExitOk;
    return ctx.run();
  } catch (const config::Error& e) {
    std::cerr << "aiot: configuration error: " << e.what() << "\n";
    return kExitUsage;
  }
}

}  // namespace aiot::cli

int main(int argc, char** argv) { return aiot::cli::Main(argc, argv); }
