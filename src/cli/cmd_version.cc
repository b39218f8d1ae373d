// `aiot version`: version, git commit and build type.
#include <iostream>

#include "base/version.h"
#include "cli/command.h"

namespace aiot::cli {
namespace {

void RegisterVersion(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand("version", "Print the version, git commit and build type");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print as JSON");
  cmd->callback([&ctx, json] {
    ctx.run = [json] {
      if (*json) {
        std::cout << "{\"version\":\"" << version::kVersion << "\",\"commit\":\""
                  << version::kGitCommit << "\",\"build\":\"" << version::kBuildType << "\"}\n";
      } else {
        std::cout << "aiot " << version::kVersion << " (commit " << version::kGitCommit << ", "
                  << version::kBuildType << " build)\n";
      }
      return kExitOk;
    };
  });
}

}  // namespace

AIOT_COMMAND(version, 90, RegisterVersion);

}  // namespace aiot::cli
