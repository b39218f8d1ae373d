#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/artifact.h"
#include "base/result.h"
#include "sim/simulated_device.h"

namespace aiot::sim {

// A model a device scores readings with.
class DeviceModel {
 public:
  virtual ~DeviceModel() = default;
  // Probability that the machine is faulty, in [0, 1]; an error when the model cannot score this
  // reading (e.g. it wants features the device does not have).
  virtual Result<float> Score(const Reading& reading) = 0;
};

// Turns artifact bytes into a runnable model; on failure the status's message says why.
using ModelLoader = std::function<Result<std::unique_ptr<DeviceModel>>(const std::string& bytes)>;

struct ModelInfo {
  std::string name;
  int64_t version = 0;
  std::string sha256;
  std::string Label() const { return name + "@" + std::to_string(version); }
};

// ArtifactClaim and VerifyArtifactClaim (what an OTA command or the registry promises about an
// artifact, and its check against the platform's key) are in base/artifact.h and
// base/signature.h; the device, the predictor and the registry share them.

// The device's model slots: the active model and the one before it, to roll back to. Installing
// verifies first and activates only a model that loads; if the new model fails to load, the
// active one stays (the install is rolled back). With a directory, the artifacts and their info
// are written there atomically (write + rename), so a restart resumes with the active model.
// Not thread-safe: used on the device agent's strand.
class ModelSlots {
 public:
  // `dir` may be empty (memory only).
  ModelSlots(ModelLoader loader, std::string dir);

  // Loads the persisted active model (falling back to the previous one) if `dir` has one. Ok
  // when there was nothing to restore or it loaded; otherwise why a persisted model was skipped
  // (the other slot may still have been restored).
  Status Restore();

  // Verify, load, activate. On failure nothing changes and the message says why ("sha256
  // mismatch", "bad signature", "size mismatch", "invalid model: ...").
  Status Install(const ModelInfo& info, std::string bytes, const ArtifactClaim& claim,
                 const std::string& public_key_pem);
  // Makes the previous model active again (the active one becomes the previous);
  // errc::not_found ("no previous model") when there is none.
  Status Rollback();

  DeviceModel* active() { return active_.model.get(); }
  const ModelInfo* active_info() const { return active_.model ? &active_.info : nullptr; }
  const ModelInfo* previous_info() const { return previous_.model ? &previous_.info : nullptr; }

 private:
  struct Slot {
    ModelInfo info;
    std::string bytes;
    std::unique_ptr<DeviceModel> model;
  };
  Status Load(const char* stem, Slot* slot);
  void Persist();

  ModelLoader loader_;
  std::string dir_;
  Slot active_;
  Slot previous_;
};

}  // namespace aiot::sim
