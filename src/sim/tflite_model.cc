#include "sim/tflite_model.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "base/errc.h"
#include "ml/runtime/model.h"

namespace aiot::sim {
namespace {

using Getter = double (*)(const Reading&);

struct Named {
  const char* name;
  Getter get;
};

constexpr Named kFeatures[] = {
    {"rotation", [](const Reading& r) { return r.rotation; }},
    {"temperature", [](const Reading& r) { return r.temperature; }},
    {"vibration", [](const Reading& r) { return r.vibration; }},
    {"sound", [](const Reading& r) { return r.sound; }},
    {"rms", [](const Reading& r) { return static_cast<double>(r.spectrum.time.rms); }},
    {"peak", [](const Reading& r) { return static_cast<double>(r.spectrum.time.peak); }},
    {"crest", [](const Reading& r) { return static_cast<double>(r.spectrum.time.crest_factor); }},
    {"kurtosis", [](const Reading& r) { return static_cast<double>(r.spectrum.time.kurtosis); }},
    {"dominanthz",
     [](const Reading& r) { return static_cast<double>(r.spectrum.dominant.frequency_hz); }},
    {"centroidhz", [](const Reading& r) { return static_cast<double>(r.spectrum.centroid_hz); }},
    {"band_shaft", [](const Reading& r) { return static_cast<double>(r.spectrum.band_energy[0]); }},
    {"band_blade", [](const Reading& r) { return static_cast<double>(r.spectrum.band_energy[1]); }},
    {"band_mid", [](const Reading& r) { return static_cast<double>(r.spectrum.band_energy[2]); }},
    {"band_high", [](const Reading& r) { return static_cast<double>(r.spectrum.band_energy[3]); }},
};

Getter Find(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& f : kFeatures) {
    if (name == f.name) return f.get;
  }
  return nullptr;
}

class TfliteDeviceModel final : public DeviceModel {
 public:
  TfliteDeviceModel(std::unique_ptr<ml::Scorer> scorer, std::vector<Getter> getters)
      : scorer_(std::move(scorer)), getters_(std::move(getters)), x_(getters_.size()) {}

  Result<float> Score(const Reading& r) override {
    for (size_t i = 0; i < getters_.size(); ++i) x_[i] = static_cast<float>(getters_[i](r));
    const float s = scorer_->Score(x_.data());
    if (!(s >= 0.0f && s <= 1.0f)) return errc::out_of_range;  // NaN or not a probability
    return s;
  }

 private:
  std::unique_ptr<ml::Scorer> scorer_;
  std::vector<Getter> getters_;
  std::vector<float> x_;
};

}  // namespace

ModelLoader TfliteModelLoader() {
  return [](const std::string& bytes) -> Result<std::unique_ptr<DeviceModel>> {
    auto model = ml::Model::FromBytes(std::vector<uint8_t>(bytes.begin(), bytes.end()));
    if (!model.ok()) return model.status();
    auto scorer = ml::Scorer::Create(*model, {.max_batch = 1});
    if (!scorer.ok()) return scorer.status();
    std::vector<std::string> names = (*model)->metadata().feature_names();
    if (names.empty()) names = {"rotation", "temperature", "vibration", "sound"};
    if (static_cast<int>(names.size()) != (*scorer)->num_features()) {
      return Status(errc::invalid_argument,
                    "model takes " + std::to_string((*scorer)->num_features()) +
                        " features, metadata names " + std::to_string(names.size()));
    }
    if ((*scorer)->num_outputs() != 1) {
      return Status(errc::invalid_argument, "model is not a binary fault model (one output)");
    }
    std::vector<Getter> getters;
    for (const auto& n : names) {
      Getter g = Find(n);
      if (!g) return Status(errc::invalid_argument, "device does not measure feature '" + n + "'");
      getters.push_back(g);
    }
    return std::unique_ptr<DeviceModel>(
        std::make_unique<TfliteDeviceModel>(std::move(*scorer), std::move(getters)));
  };
}

}  // namespace aiot::sim
