#include "sim/model_slots.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/file.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/signature.h"

namespace aiot::sim {
namespace {

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

// Loads one persisted slot: not_found when it is not on disk, corrupted when its info is
// unreadable or the artifact is not the one installed, the loader's error when it fails to load.
Status ModelSlots::Load(const char* stem, Slot* slot) {
  const std::filesystem::path d(dir_);
  auto info_text = ReadWholeFile((d / (std::string(stem) + ".json")).string());
  auto bytes = ReadWholeFile((d / (std::string(stem) + ".model")).string());
  if (!info_text.ok() || !bytes.ok()) return errc::not_found;
  if (!ParseInfo(*info_text, &slot->info)) {
    return Status(errc::corrupted, std::string(stem) + " model: unreadable info");
  }
  // A file on disk is only trusted if it is what we verified when installing it.
  if (Sha256Hex(*bytes) != slot->info.sha256) {
    return Status(errc::corrupted, std::string(stem) + " model: sha256 mismatch");
  }
  auto m = loader_(*bytes);
  if (!m.ok()) return m.status().Prefix(std::string(stem) + " model");
  slot->bytes = std::move(*bytes);
  slot->model = std::move(*m);
  return Status::Ok();
}

Status ModelSlots::Restore() {
  if (dir_.empty()) return Status::Ok();
  const Status active = Load("active", &active_);
  const Status previous = Load("previous", &previous_);
  if (!active.ok() && previous.ok()) {
    std::swap(active_, previous_);
    Persist();
  }
  if (!active.ok() && active.code() != errc::not_found) return active;
  if (!previous.ok() && previous.code() != errc::not_found) return previous;
  return Status::Ok();
}

Status ModelSlots::Install(const ModelInfo& info, std::string bytes, const ArtifactClaim& claim,
                           const std::string& public_key_pem) {
  if (Status st = VerifyArtifactClaim(public_key_pem, bytes, claim); !st.ok()) return st;
  auto model = loader_(bytes);
  if (!model.ok()) {
    // The new model is not activated: the active one keeps scoring (rolled back).
    return Status(errc::invalid_argument, "invalid model: " + model.status().message());
  }
  previous_ = std::move(active_);
  active_.info = info;
  active_.info.sha256 = claim.sha256;
  active_.bytes = std::move(bytes);
  active_.model = std::move(*model);
  Persist();
  return Status::Ok();
}

Status ModelSlots::Rollback() {
  if (!previous_.model) return Status(errc::not_found, "no previous model");
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
