// `aiot models list|show|push|promote|rollback|download`: the model registry's HTTP API.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/json.h"
#include "cli/command.h"
#include "registry/api_client.h"
#include "registry/crypto.h"

namespace aiot::cli {
namespace {

using net::HttpClient;
using Json = nlohmann::json;

struct ModelsArgs {
  registry::ApiEndpoint api;
  std::string name, file, out, metrics = "{}", parameters = "{}", training_data_hash, stage;
  int64_t version = 0, parent = 0;
  bool json = false;
};

void PrintVersions(const Json& list) {
  std::printf("%-20s %7s %-10s %10s  %-16s %s\n", "NAME", "VERSION", "STAGE", "SIZE", "SHA256",
              "CREATED");
  for (const auto& m : list) {
    std::printf("%-20s %7lld %-10s %10lld  %-16.16s %s\n", json::StringOr(m, "name", "?").c_str(),
                static_cast<long long>(json::Int(m, "version").value_or(0)),
                json::StringOr(m, "stage", "?").c_str(),
                static_cast<long long>(json::Int(m, "size").value_or(0)),
                json::StringOr(m, "sha256", "?").c_str(),
                json::StringOr(m, "created_at", "?").c_str());
  }
}

int Print(const net::HttpReply& r, bool as_json, const char* list_key) {
  auto j = Json::parse(r.body, nullptr, false);
  const Json* list = list_key ? json::Find(j, list_key) : nullptr;
  if (as_json || list == nullptr || !list->is_array()) {
    std::cout << (j.is_discarded() ? r.body : j.dump(2)) << "\n";
  } else {
    PrintVersions(*list);
  }
  return kExitOk;
}

void AddModelsList(CLI::App* cmd, Context& ctx, const std::shared_ptr<ModelsArgs>& args) {
  auto* list = cmd->add_subcommand("list", "List model versions");
  list->add_option("--name", args->name, "Only this model");
  list->add_flag("--json", args->json, "Print JSON");
  args->api.AddFlags(list);
  list->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      std::string target = "/api/v1/models";
      if (!args->name.empty()) target += "?name=" + HttpClient::Escape(args->name);
      auto r = args->api.Client()->Get(target);
      if (int rc = registry::CheckReply(r, "models list")) return rc;
      return Print(*r, args->json, "models");
    };
  });
}

void AddModelsShow(CLI::App* cmd, Context& ctx, const std::shared_ptr<ModelsArgs>& args) {
  auto* show = cmd->add_subcommand("show", "Show a model's versions, or one version");
  show->add_option("name", args->name, "Model name")->required();
  show->add_option("version", args->version, "Version (default: all)");
  show->add_flag("--json", args->json, "Print JSON");
  args->api.AddFlags(show);
  show->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      std::string target = "/api/v1/models/" + HttpClient::Escape(args->name);
      if (args->version > 0) target += "/versions/" + std::to_string(args->version);
      auto r = args->api.Client()->Get(target);
      if (int rc = registry::CheckReply(r, "models show")) return rc;
      return Print(*r, args->json || args->version > 0, "versions");
    };
  });
}

void AddModelsPush(CLI::App* cmd, Context& ctx, const std::shared_ptr<ModelsArgs>& args) {
  auto* push = cmd->add_subcommand("push", "Upload a .tflite artifact as a new version");
  push->add_option("name", args->name, "Model name")->required();
  push->add_option("file", args->file, "Artifact file (.tflite)")
      ->required()
      ->check(CLI::ExistingFile);
  push->add_option("--metrics", args->metrics, "Metrics as a JSON object");
  push->add_option("--parameters", args->parameters, "Training parameters as a JSON object");
  push->add_option("--training-data-hash", args->training_data_hash, "sha256 of the training data");
  push->add_option("--parent", args->parent, "Parent version");
  args->api.AddFlags(push);
  push->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      auto bytes = ReadWholeFile(args->file);
      if (!bytes.ok()) {
        std::cerr << "aiot: models push: " << bytes.status().message() << "\n";
        return kExitFailure;
      }
      registry::VersionUpload up{args->name,       std::move(*bytes),        args->metrics,
                                 args->parameters, args->training_data_hash, args->parent};
      auto r = registry::PushVersion(*args->api.Client(), up);
      auto j = registry::ReadReply(r, "models push");
      if (!j) return kExitFailure;
      std::cout << (r->status == 201 ? "pushed " : "already registered as ")
                << json::StringOr(*j, "name", "?") << "@" << json::Int(*j, "version").value_or(0)
                << " sha256 " << json::StringOr(*j, "sha256", "?") << "\n";
      return kExitOk;
    };
  });
}

void AddModelsPromote(CLI::App* cmd, Context& ctx, const std::shared_ptr<ModelsArgs>& args) {
  auto* promote = cmd->add_subcommand("promote", "Move a version to a stage (default production)");
  promote->add_option("name", args->name, "Model name")->required();
  promote->add_option("version", args->version, "Version")->required();
  promote->add_option("--stage", args->stage, "none, staging, production or archived")
      ->default_val("production");
  args->api.AddFlags(promote);
  promote->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      auto r = args->api.Client()->Call("POST",
                                        "/api/v1/models/" + HttpClient::Escape(args->name) +
                                            "/versions/" + std::to_string(args->version) + "/stage",
                                        Json{{"stage", args->stage}}.dump());
      if (int rc = registry::CheckReply(r, "models promote")) return rc;
      std::cout << args->name << "@" << args->version << " is now " << args->stage << "\n";
      return kExitOk;
    };
  });
}

void AddModelsRollback(CLI::App* cmd, Context& ctx, const std::shared_ptr<ModelsArgs>& args) {
  auto* rollback = cmd->add_subcommand(
      "rollback", "Put back in production the version that was there before the current one");
  rollback->add_option("name", args->name, "Model name")->required();
  args->api.AddFlags(rollback);
  rollback->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      auto r = args->api.Client()->Call(
          "POST", "/api/v1/models/" + HttpClient::Escape(args->name) + "/rollback");
      auto j = registry::ReadReply(r, "models rollback");
      if (!j) return kExitFailure;
      std::cout << args->name << "@" << json::Int(*j, "version").value_or(0)
                << " is back in production\n";
      return kExitOk;
    };
  });
}

void AddModelsDownload(CLI::App* cmd, Context& ctx, const std::shared_ptr<ModelsArgs>& args) {
  auto* download = cmd->add_subcommand("download", "Download and verify an artifact");
  download->add_option("name", args->name, "Model name")->required();
  download->add_option("version", args->version, "Version")->required();
  download->add_option("-o,--output", args->out, "Output file")->required();
  args->api.AddFlags(download);
  download->callback([&ctx, args] {
    ctx.run = [&ctx, args] {
      ctx.ResolveTokenFile(args->api);
      auto body = registry::DownloadVerified(*args->api.Client(), args->name, args->version);
      if (!body.ok()) {
        std::cerr << "aiot: models download: " << body.status().message() << "; not written\n";
        return kExitFailure;
      }
      if (Status s = WriteFileAtomic(args->out, *body); !s.ok()) {
        std::cerr << "aiot: models download: " << s.message() << "\n";
        return kExitFailure;
      }
      std::cout << "wrote " << args->out << " (" << body->size() << " bytes, signature verified)\n";
      return kExitOk;
    };
  });
}
void RegisterModels(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand("models", "Model registry: list, show, push, promote, rollback");
  cmd->require_subcommand(1);
  auto args = std::make_shared<ModelsArgs>();
  AddModelsList(cmd, ctx, args);
  AddModelsShow(cmd, ctx, args);
  AddModelsPush(cmd, ctx, args);
  AddModelsPromote(cmd, ctx, args);
  AddModelsRollback(cmd, ctx, args);
  AddModelsDownload(cmd, ctx, args);
}

}  // namespace

AIOT_COMMAND(models, 40, RegisterModels);

}  // namespace aiot::cli
