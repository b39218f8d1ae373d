#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "registry/http_client.h"

// Shared by the `aiot models|devices|data|rollout` subcommands: the --url/--token flags and
// printing of API replies.
namespace aiot::registry {

struct ApiEndpoint {
  // Defaults from AIOT_URL / AIOT_TOKEN, else http://127.0.0.1:8080 and no token.
  ApiEndpoint();
  std::string url;
  std::string token;
  // Adds --url and --token to `cmd`.
  void AddFlags(CLI::App* cmd);
  std::unique_ptr<HttpClient> Client() const;
};

// Prints a failed call or an error reply to stderr and returns the exit code: 0 for 2xx,
// 1 otherwise. On success the body is left to the caller.
int CheckReply(const Result<HttpReply>& reply, const std::string& what);

}  // namespace aiot::registry
