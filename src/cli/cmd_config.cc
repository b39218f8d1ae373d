// `aiot config defaults|check|show`: the configuration file, explained.
#include <iostream>

#include "app/app_config.h"
#include "base/config.h"
#include "cli/command.h"

namespace aiot::cli {
namespace {

void RegisterConfig(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand("config", "Print the default configuration or validate a file");
  cmd->require_subcommand(1);

  auto* defaults = cmd->add_subcommand(
      "defaults", "Print the complete default configuration, a comment per key");
  defaults->callback([&ctx] {
    ctx.run = [] {
      app::AppConfig cfg;
      std::cout
          << "# aiot configuration. Every key is optional; shown with its default.\n"
          << "# Environment overrides: AIOT_SECTION_KEY=value; flags: --set section.key=value\n\n"
          << config::ToYaml(config::DescriberFor(cfg));
      return kExitOk;
    };
  });

  auto file = std::make_shared<std::string>();
  auto* check = cmd->add_subcommand("check", "Validate a configuration file");
  check->add_option("file", *file, "The YAML file")->required();
  check->callback([&ctx, file] {
    ctx.run = [file] {
      app::AppConfig cfg;
      try {
        config::LoadYamlFile(*file, config::DescriberFor(cfg));
      } catch (const config::Error& e) {
        std::cerr << e.what() << "\n";
        return kExitFailure;
      }
      if (auto fields = app::ResolveFields(cfg); !fields.ok()) {
        std::cerr << *file << ": " << fields.status().message() << "\n";
        return kExitFailure;
      }
      std::cout << *file << ": ok\n";
      return kExitOk;
    };
  });

  auto* show = cmd->add_subcommand(
      "show", "Print the effective configuration (file, environment and --set applied)");
  show->callback([&ctx] {
    ctx.run = [&ctx] {
      std::cout << config::ToYaml(config::DescriberFor(ctx.Config()));
      return kExitOk;
    };
  });
}

}  // namespace

AIOT_COMMAND(config, 80, RegisterConfig);

}  // namespace aiot::cli
