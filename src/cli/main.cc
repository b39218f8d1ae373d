#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "app/admin_token.h"
#include "base/config.h"
#include "base/log.h"
#include "cli/command.h"
#include "registry/api_client.h"

extern char** environ;

namespace aiot::cli {

std::vector<RegisteredCommand>& Commands() {
  static std::vector<RegisteredCommand> commands;
  return commands;
}

CommandRegistrar::CommandRegistrar(const char* name, int order, RegisterFn fn) {
  Commands().push_back({name, order, fn});
}

void DeprecatedName(const std::string& old_name, const std::string& new_name) {
  std::cerr << "aiot: `aiot " << old_name << "` is deprecated and will be removed; use `aiot "
            << new_name << "`\n";
}

void Context::InitLogging() {
  // The `log` section (per-module levels, format) applies to every subcommand, also to those
  // that need no other configuration. A configuration that cannot be loaded is reported once:
  // by main() when the command needs it (it fails), or after the command when it does not.
  if (Load()) return;
  log::LogConfig lc;
  if (!log_format.empty()) lc.format = log_format;
  if (!log_level.empty()) lc.level = log_level;
  log::Init(lc);
}

config::Sources Context::ConfigSources() {
  config_used_ = true;
  config::Sources sources;
  sources.file = config_file;
  if (sources.file.empty()) {
    if (const char* env = std::getenv("AIOT_CONFIG")) sources.file = env;
  }
  for (char** e = environ; *e; ++e) sources.env.emplace_back(*e);
  sources.sets = sets;
  return sources;
}

bool Context::Load() {
  if (config_) return true;
  if (config_error_) return false;
  const bool used = config_used_;
  app::AppConfig cfg;
  config::LoadReport report = config::Load(ConfigSources(), config::DescriberFor(cfg));
  config_used_ = used;
  if (!report.problems.empty()) {
    config_error_.emplace(std::move(report.problems));
    return false;
  }
  // One field schema for every consumer (store, datastore, predictor, dashboard, replay); the
  // loader has checked it (telemetry::Validate), so this only fills in the defaults.
  if (auto fields = app::ResolveFields(cfg); !fields.ok()) {
    config_error_.emplace(fields.status().message());
    return false;
  }
  if (!log_format.empty()) cfg.log.format = log_format;
  if (!log_level.empty()) cfg.log.level = log_level;
  log::Init(cfg.log);
  for (const auto& name : report.unknown_env) {
    log::Get("config")->warn("environment variable {} matches no configuration key; ignored", name);
  }
  config_ = std::move(cfg);
  return true;
}

void Context::ResolveTokenFile(registry::ApiEndpoint& api) {
  if (!api.token.empty() || !api.token_file.empty()) return;
  api.token_file =
      (std::filesystem::path(Config().registry.data_dir) / app::kAdminTokenFile).string();
}

app::AppConfig& Context::Config() {
  config_used_ = true;
  if (!Load()) throw *config_error_;
  return *config_;
}

namespace {

// One line per problem.
void ReportConfigError(const config::Error& e, std::string_view what) {
  if (e.problems().empty()) {
    std::cerr << "aiot: " << what << ": " << e.what() << "\n";
    return;
  }
  for (const auto& p : e.problems()) std::cerr << "aiot: " << what << ": " << p.ToString() << "\n";
}

}  // namespace

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
  bool dry_run = false;
  app.add_flag("--dry-run", dry_run,
               "Parse the command line and load the configuration, then exit without running the "
               "subcommand (0: both accepted; checks a container's command line)");

  auto& commands = Commands();
  std::sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) {
    return a.order != b.order ? a.order < b.order : std::string_view(a.name) < b.name;
  });
  for (const auto& c : commands) c.fn(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help / --version exit 0; every bad argument is the usage exit code 2 (CLI11's own codes
    // start at 100), which pipeline steps and orchestrators read as "do not retry".
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  try {
    if (dry_run) {
      ctx.Config();
      return kExitOk;
    }
    ctx.InitLogging();
    int code = ctx.run ? ctx.run() : kExitOk;
    if (const config::Error* e = ctx.UnreportedConfigError()) {
      ReportConfigError(*e, "warning: configuration not applied");
    }
    return code;
  } catch (const config::Error& e) {
    ReportConfigError(e, "configuration error");
    return kExitUsage;
  }
}

}  // namespace aiot::cli

int main(int argc, char** argv) { return aiot::cli::Main(argc, argv); }
