#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/app_config.h"
#include "base/config.h"

namespace aiot::registry {
struct ApiEndpoint;
}

namespace aiot::cli {

// What every subcommand shares: global flags and the lazily loaded configuration.
class Context {
 public:
  // --config FILE (or AIOT_CONFIG), --set k=v (repeatable), --log-format, --log-level.
  std::string config_file;
  std::vector<std::string> sets;
  std::string log_format;
  std::string log_level;

  // The subcommand's action, chosen while parsing; main() runs it after parsing succeeded.
  std::function<int()> run;

  // The configuration: defaults, then the file, then AIOT_* environment variables, then --set,
  // checked (every section's Validate). Loaded once; (re)initialises logging from it. Throws
  // config::Error with every problem.
  app::AppConfig& Config();

  // Where the configuration comes from: --config or AIOT_CONFIG, the environment, --set.
  config::Sources ConfigSources();

  // When `api` has neither a token nor a token file (--token, --token-file, AIOT_TOKEN,
  // AIOT_TOKEN_FILE): the admin token file `aiot up` writes in the effective configuration's
  // registry.data_dir. Loads the configuration for that (throws config::Error).
  void ResolveTokenFile(registry::ApiEndpoint& api);

  // Logging from the configuration, or from the flags alone when it cannot be loaded (the
  // command that needs it reports why).
  void InitLogging();

  // The configuration could not be loaded and the command never asked for it: the problems, so
  // that they are reported once after all.
  const config::Error* UnreportedConfigError() const {
    return config_error_ && !config_used_ ? &*config_error_ : nullptr;
  }

 private:
  bool Load();

  std::optional<app::AppConfig> config_;
  std::optional<config::Error> config_error_;
  bool config_used_ = false;
};

using RegisterFn = void (*)(CLI::App& root, Context& ctx);

// Subcommands register themselves from their own source file:
//   AIOT_COMMAND(version, 90, RegisterVersion);
// `order` sorts `aiot --help` (lower first).
struct CommandRegistrar {
  CommandRegistrar(const char* name, int order, RegisterFn fn);
};

struct RegisteredCommand {
  const char* name;
  int order;
  RegisterFn fn;
};
std::vector<RegisteredCommand>& Commands();

// A configuration section built from flags rather than loaded (e.g. the MQTT client of `aiot
// device --mqtt URL`): checks it as the loader would (its Validate) and throws config::Error with
// every problem, each said to come from `flags`.
template <typename T>
void CheckFlags(T section, std::string_view flags) {
  std::vector<config::Problem> problems = config::RunChecks(config::DescriberFor(section));
  if (problems.empty()) return;
  for (auto& p : problems) p.where = std::string(flags);
  throw config::Error(std::move(problems));
}

// Prints the one-line notice of a deprecated subcommand name to stderr.
void DeprecatedName(const std::string& old_name, const std::string& new_name);

// Exit codes shared by subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

}  // namespace aiot::cli

#define AIOT_COMMAND(name, order, fn) \
  static const ::aiot::cli::CommandRegistrar aiot_command_registrar_##name(#name, order, fn)
