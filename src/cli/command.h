#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "app/app_config.h"

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

  // The configuration: defaults, then the file, then AIOT_* environment variables, then --set.
  // Loaded on first use; (re)initialises logging from it. Throws config::Error.
  app::AppConfig& Config();

  // Logging from the flags alone, before any configuration is read.
  void InitLogging();

 private:
  std::optional<app::AppConfig> config_;
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

// Exit codes shared by subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

}  // namespace aiot::cli

#define AIOT_COMMAND(name, order, fn) \
  static const ::aiot::cli::CommandRegistrar aiot_command_registrar_##name(#name, order, fn)
