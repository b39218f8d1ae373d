#include "registry/api_client.h"

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

namespace aiot::registry {

ApiEndpoint::ApiEndpoint() {
  const char* url_env = std::getenv("AIOT_URL");
  const char* token_env = std::getenv("AIOT_TOKEN");
  url = url_env && *url_env ? url_env : "http://127.0.0.1:8080";
  token = token_env ? token_env : "";
}

void ApiEndpoint::AddFlags(CLI::App* cmd) {
  cmd->add_option("--url", url, "Platform API base URL (env AIOT_URL)")->capture_default_str();
  cmd->add_option("--token", token, "Bearer token (env AIOT_TOKEN)");
}

std::unique_ptr<HttpClient> ApiEndpoint::Client() const {
  return std::make_unique<HttpClient>(url, token);
}

int CheckReply(const Result<HttpReply>& reply, const std::string& what) {
  if (!reply.ok()) {
    std::cerr << "aiot: " << what << ": " << reply.error().message() << "\n";
    return 1;
  }
  if (reply->status >= 200 && reply->status < 300) return 0;
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  std::string message = reply->body;
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    message = j["error"].value("message", reply->body);
  }
  std::cerr << "aiot: " << what << ": HTTP " << reply->status << ": " << message << "\n";
  return 1;
}

}  // namespace aiot::registry
