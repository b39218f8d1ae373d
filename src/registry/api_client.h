#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "net/http_client.h"

// Shared by the `aiot models|devices|data|rollout` subcommands: the --url/--token flags and
// printing of API replies.
namespace aiot::registry {

struct ApiEndpoint {
  // Defaults from AIOT_URL / AIOT_TOKEN / AIOT_TOKEN_FILE, else http://127.0.0.1:8080, no token
  // and no token file (the CLI then looks in the configuration's data directory, where `aiot up`
  // writes its admin token).
  ApiEndpoint();
  std::string url;
  std::string token;
  std::string token_file;
  // https:// urls: the CA the API's certificate must chain to (AIOT_CACERT; empty = the system's
  // store).
  std::string cacert;
  // Adds --url, --cacert, --token and --token-file to `cmd`.
  void AddFlags(CLI::App* cmd);
  // Adds only --token and --token-file (for commands that name the registry otherwise).
  void AddTokenFlags(CLI::App* cmd);
  // `token`, or the first line of `token_file` when no token was given (empty if unreadable).
  std::string EffectiveToken() const;
  // A client with the effective token, for replies up to 1 GiB (model downloads), 60 s per call.
  std::unique_ptr<net::HttpClient> Client() const;
};

// One model version to upload (`aiot models push`, the pipeline's register step).
struct VersionUpload {
  std::string name;
  std::string bytes;  // the .tflite artifact
  std::string metrics = "{}";
  std::string parameters = "{}";  // training parameters and lineage, a JSON object
  std::string training_data_hash;
  int64_t parent_version = 0;  // 0: none
};
// POST /api/v1/models/{name}/versions: 201 with the new version, 200 with the version that
// already holds the same bytes (so an upload is safe to repeat).
Result<net::HttpReply> PushVersion(net::HttpClient& client, const VersionUpload& upload);

// GET a version's artifact and verify it against the platform's signing key (fetched from the
// same server): the bytes, or errc::corrupted / permission_denied when it does not verify, the
// HTTP error otherwise.
Result<std::string> DownloadVerified(net::HttpClient& client, std::string_view name,
                                     int64_t version);

// Prints a failed call or an error reply to stderr and returns the exit code: 0 for 2xx,
// 1 otherwise. On success the body is left to the caller.
int CheckReply(const Result<net::HttpReply>& reply, const std::string& what);

// CheckReply, then the body parsed as JSON without throwing: std::nullopt, after printing why to
// stderr, for a failed call, an error reply, or a body that is not JSON (the URL may name some
// other server). Read the fields of the result with base/json.h, never with a throwing get<>().
std::optional<nlohmann::json> ReadReply(const Result<net::HttpReply>& reply,
                                        const std::string& what);

}  // namespace aiot::registry
