#include "registry/api_client.h"

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/file.h"
#include "base/json.h"
#include "registry/crypto.h"

namespace aiot::registry {

ApiEndpoint::ApiEndpoint() {
  const char* url_env = std::getenv("AIOT_URL");
  const char* token_env = std::getenv("AIOT_TOKEN");
  url = url_env && *url_env ? url_env : "http://127.0.0.1:8080";
  token = token_env ? token_env : "";
  const char* file_env = std::getenv("AIOT_TOKEN_FILE");
  token_file = file_env && *file_env ? file_env : "";
  const char* ca_env = std::getenv("AIOT_CACERT");
  cacert = ca_env && *ca_env ? ca_env : "";
}

void ApiEndpoint::AddFlags(CLI::App* cmd) {
  cmd->add_option("--url", url, "Platform API base URL, http:// or https:// (env AIOT_URL)")
      ->capture_default_str();
  cmd->add_option("--cacert", cacert,
                  "CA certificate (PEM) an https:// API's certificate must chain to (env "
                  "AIOT_CACERT; default: the system's store)");
  AddTokenFlags(cmd);
}

void ApiEndpoint::AddTokenFlags(CLI::App* cmd) {
  cmd->add_option("--token", token, "Bearer token (env AIOT_TOKEN)");
  cmd->add_option(
      "--token-file", token_file,
      "Read the token from this file when no --token is given (env AIOT_TOKEN_FILE; default: "
      "the admin token `aiot up` writes, admin.token in the configuration's "
      "registry.data_dir)");
}

std::string ApiEndpoint::EffectiveToken() const {
  if (!token.empty() || token_file.empty()) return token;
  auto line = ReadFirstLine(token_file);
  return line.ok() ? *line : std::string();
}

std::unique_ptr<net::HttpClient> ApiEndpoint::Client() const {
  net::HttpClientOptions options;
  options.token = EffectiveToken();
  options.timeout = std::chrono::seconds(60);
  options.max_body_bytes = size_t{1} << 30;
  options.user_agent = "aiot-cli";
  options.tls.ca = cacert;
  return std::make_unique<net::HttpClient>(url, std::move(options));
}

Result<net::HttpReply> PushVersion(net::HttpClient& client, const VersionUpload& up) {
  using net::HttpClient;
  std::string target = "/api/v1/models/" + HttpClient::Escape(up.name) +
                       "/versions?metrics=" + HttpClient::Escape(up.metrics) +
                       "&parameters=" + HttpClient::Escape(up.parameters);
  if (!up.training_data_hash.empty()) {
    target += "&training_data_hash=" + HttpClient::Escape(up.training_data_hash);
  }
  if (up.parent_version > 0) target += "&parent_version=" + std::to_string(up.parent_version);
  return client.Call("POST", target, up.bytes, {}, "application/octet-stream");
}

Result<std::string> DownloadVerified(net::HttpClient& client, std::string_view name,
                                     int64_t version) {
  using net::HttpClient;
  auto key = client.Get("/.well-known/aiot/signing-key");
  if (!key.ok()) return key.status();
  if (key->status != 200) {
    return Status(errc::unavailable, "signing key: HTTP " + std::to_string(key->status));
  }
  auto r = client.Get("/api/v1/models/" + HttpClient::Escape(name) + "/versions/" +
                      std::to_string(version) + "/artifact");
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return Status(r->status == 404 ? errc::not_found : errc::unavailable,
                  std::string(name) + "@" + std::to_string(version) + ": HTTP " +
                      std::to_string(r->status) + " " + r->body.substr(0, 300));
  }
  Status v =
      VerifyArtifact(key->body, r->body, r->header("x-aiot-sha256"), r->header("x-aiot-signature"));
  if (!v.ok()) return v;
  return std::move(r->body);
}

int CheckReply(const Result<net::HttpReply>& reply, const std::string& what) {
  if (!reply.ok()) {
    std::cerr << "aiot: " << what << ": " << reply.status().message() << "\n";
    return 1;
  }
  if (reply->status >= 200 && reply->status < 300) return 0;
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  std::string message = reply->body;
  if (const nlohmann::json* e = json::Find(j, "error")) {
    message = json::StringOr(*e, "message", message);
  }
  std::cerr << "aiot: " << what << ": HTTP " << reply->status << ": " << message << "\n";
  return 1;
}

std::optional<nlohmann::json> ReadReply(const Result<net::HttpReply>& reply,
                                        const std::string& what) {
  if (CheckReply(reply, what) != 0) return std::nullopt;
  auto j = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    std::cerr << "aiot: " << what << ": the reply is not JSON (is --url the aiot platform?)\n";
    return std::nullopt;
  }
  return j;
}

}  // namespace aiot::registry
