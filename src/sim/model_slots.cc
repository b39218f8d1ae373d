#include "sim/model_slots.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/file.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/signature.h"

namespace aiot::sim {
namespace {

bool ReadFile(const std::filesystem::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

std::string InfoJson(const ModelInfo& i) {
  return nlohmann::json{{"name", i.name}, {"version", i.version}, {"sha256", i.sha256}}.dump();
}

bool ParseInfo(const std::string& text, ModelInfo* i) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return false;
  // A file on disk may be damaged: check types instead of letting json throw.
  if (!j.contains("name") || !j["name"].is_string() || !j.contains("sha256") ||
      !j["sha256"].is_string() || !j.contains("version") || !j["version"].is_number_integer()) {
    return false;
  }
  i->name = j["name"].get<std::string>();
  i->version = j["version"].get<int64_t>();
  i->sha256 = j["sha256"].get<std::string>();
  return !i->name.empty();
}

}  // namespace

ModelSlots::ModelSlots(ModelLoader loader, std::string dir)
    : loader_(std::move(loader)), dir_(std::move(dir)) {}

Status ModelSlots::Restore(std::string* error) {
  if (dir_.empty()) return Status::Ok();
  const std::filesystem::path d(dir_);
  auto load = [&](const char* stem, Slot* slot) {
    std::string info_text, bytes;
    if (!ReadFile(d / (std::string(stem) + ".json"), &info_text) ||
        !ReadFile(d / (std::string(stem) + ".model"), &bytes) ||
        !ParseInfo(info_text, &slot->info)) {
      return false;
    }
    // A file on disk is only trusted if it is what we verified when installing it.
    if (Sha256Hex(bytes) != slot->info.sha256) return false;
    auto m = loader_(bytes, error);
    if (!m.ok()) return false;
    slot->bytes = std::move(bytes);
    slot->model = std::move(*m);
    return true;
  };
  const bool have_active = load("active", &active_);
  const bool have_previous = load("previous", &previous_);
  if (!have_active && have_previous) {
    std::swap(active_, previous_);
    Persist();
  }
  return Status::Ok();
}

Status ModelSlots::Install(const ModelInfo& info, std::string bytes, const ArtifactClaim& claim,
                           const std::string& public_key_pem, std::string* error) {
  if (Status st = VerifyArtifactClaim(public_key_pem, bytes, claim, error); !st.ok()) return st;
  auto model = loader_(bytes, error);
  if (!model.ok()) {
    // The new model is not activated: the active one keeps scoring (rolled back).
    *error = "invalid model: " + *error;
    return errc::invalid_argument;
  }
  previous_ = std::move(active_);
  active_.info = info;
  active_.info.sha256 = claim.sha256;
  active_.bytes = std::move(bytes);
  active_.model = std::move(*model);
  Persist();
  return Status::Ok();
}

Status ModelSlots::Rollback(std::string* error) {
  if (!previous_.model) {
    *error = "no previous model";
    return errc::not_found;
  }
  std::swap(active_, previous_);
  Persist();
  return Status::Ok();
}

void ModelSlots::Persist() {
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  const std::filesystem::path d(dir_);
  // Artifact before info: a crash in between leaves an info whose sha256 does not match, which
  // Restore() rejects.
  for (auto [stem, slot] : {std::pair{"active", &active_}, std::pair{"previous", &previous_}}) {
    if (!slot->model) {
      std::filesystem::remove(d / (std::string(stem) + ".json"), ec);
      continue;
    }
    if (!WriteFileAtomic((d / (std::string(stem) + ".model")).string(), slot->bytes).ok() ||
        !WriteFileAtomic((d / (std::string(stem) + ".json")).string(), InfoJson(slot->info)).ok()) {
      log::Get("sim.device")->warn("could not persist model {} in {}", slot->info.Label(), dir_);
    }
  }
}

}  // namespace aiot::sim
