// `aiot version`: version, git commit, build type and the allocator in use (AIOT_MALLOC).
#include <iostream>

#include "base/allocator.h"
#include "base/version.h"
#include "cli/command.h"

namespace aiot::cli {
namespace {

void RegisterVersion(CLI::App& root, Context& ctx) {
  auto* cmd =
      root.add_subcommand("version", "Print the version, git commit, build type and allocator");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print as JSON");
  cmd->callback([&ctx, json] {
    ctx.run = [json] {
      // What the process really uses (a link that dropped jemalloc shows as glibc here).
      std::string allocator = AllocatorName();
      if (*json) {
        std::cout << "{\"version\":\"" << version::kVersion << "\",\"commit\":\""
                  << version::kGitCommit << "\",\"build\":\"" << version::kBuildType
                  << "\",\"allocator\":\"" << allocator << "\"}\n";
      } else {
        std::cout << "aiot " << version::kVersion << " (commit " << version::kGitCommit << ", "
                  << version::kBuildType << " build, allocator " << allocator << ")\n";
      }
      return kExitOk;
    };
  });
}

}  // namespace

AIOT_COMMAND(version, 90, RegisterVersion);

}  // namespace aiot::cli
