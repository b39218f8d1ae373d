#include "sim/simulated_device.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "base/clock.h"
#include "base/errc.h"

namespace aiot::sim {
namespace {

constexpr int64_t kNanos = 1'000'000'000;
// Physics integrates in steps of at most this (s): damage noise and the thermal lag need it.
constexpr double kMaxStepS = 30;

}  // namespace

const std::vector<std::string>& BandNames() {
  static const std::vector<std::string> names = {"shaft", "blade", "mid", "high"};
  return names;
}

dsp::FrameFeaturesConfig DeviceDspConfig(const PhysicsConfig& physics) {
  dsp::FrameFeaturesConfig c;
  c.spectrum.frame_size = physics.frame_size;
  c.spectrum.sample_rate_hz = static_cast<float>(physics.sample_rate_hz);
  dsp::ParseWindowKind(physics.window.c_str(), &c.spectrum.window);
  const float nyquist = static_cast<float>(physics.sample_rate_hz / 2);
  // Shaft speeds of 400-700 rpm put 1x at 6.7-11.7 Hz and 2x below 24 Hz; blade pass (4-6 blades)
  // and the bearing defect frequency sit in 24-100 Hz; bearing impacts ring a resonance near 1 kHz.
  c.bands[0] = {3, 24};
  c.bands[1] = {24, 100};
  c.bands[2] = {100, std::min(700.0f, nyquist)};
  c.bands[3] = {std::min(700.0f, nyquist), nyquist + 1};
  c.band_count = 4;
  c.dominant_min_hz = 3;
  return c;
}

Status ValidatePhysics(const PhysicsConfig& p) {
  dsp::WindowKind w;
  if (!dsp::ParseWindowKind(p.window.c_str(), &w)) return errc::invalid_argument;
  if (!(p.sample_rate_hz >= 400) || !(p.time_to_failure_s > 0) || !(p.repair_time_s >= 0) ||
      !(p.fault_onset_max_s >= 0)) {
    return errc::invalid_argument;
  }
  for (const auto& m : p.failure_modes) {
    FailureMode mode;
    if (!ParseFailureMode(m, &mode) || mode == FailureMode::kNone) return errc::invalid_argument;
  }
  if (p.failure_modes.empty()) return errc::invalid_argument;
  return dsp::FrameAnalyzer::Validate(DeviceDspConfig(p));
}

namespace {

dsp::FrameFeaturesConfig CheckedDspConfig(const PhysicsConfig& physics) {
  AIOT_CHECK(ValidatePhysics(physics).ok(), "invalid simulator physics config");
  return DeviceDspConfig(physics);
}

}  // namespace

void AppendTelemetryJson(std::string_view device_id, const Reading& r, std::string* out) {
  const auto& s = r.spectrum;
  fmt::format_to(std::back_inserter(*out),
                 "{{\"deviceID\":\"{}\",\"timeStamp\":\"{}\",\"rotation\":{:.1f},"
                 "\"temperature\":{:.1f},\"vibration\":{:.1f},\"sound\":{:.1f},\"spectrum\":{{"
                 "\"rms\":{:.2f},\"peak\":{:.2f},\"crest\":{:.3f},\"kurtosis\":{:.3f},"
                 "\"dominantHz\":{:.2f},\"centroidHz\":{:.1f},\"bands\":{{",
                 device_id, FormatTimestamp(r.time_nanos), r.rotation, r.temperature, r.vibration,
                 r.sound, s.time.rms, s.time.peak, s.time.crest_factor, s.time.kurtosis,
                 s.dominant.frequency_hz, s.centroid_hz);
  const auto& names = BandNames();
  for (size_t i = 0; i < s.band_count && i < names.size(); ++i) {
    fmt::format_to(std::back_inserter(*out), "{}\"{}\":{:.1f}", i ? "," : "", names[i],
                   s.band_energy[i]);
  }
  out->append("}}}");
}

SimulatedDevice::SimulatedDevice(std::string id, const PhysicsConfig& physics, uint64_t seed,
                                 bool will_fail, int64_t start_nanos)
    : id_(std::move(id)),
      physics_(physics),
      rng_(seed),
      machine_(RandomSpec(rng_), rng_()),
      analyzer_(CheckedDspConfig(physics)),
      frame_(physics.frame_size),
      will_fail_(will_fail),
      last_nanos_(start_nanos),
      start_nanos_(start_nanos) {
  for (const auto& m : physics.failure_modes) {
    FailureMode mode;
    ParseFailureMode(m, &mode);
    modes_.push_back(mode);
  }
  events_.reserve(64);
  if (will_fail_) ScheduleOnset(start_nanos);
}

void SimulatedDevice::ScheduleOnset(int64_t from_nanos) {
  std::uniform_real_distribution<double> u(0, physics_.fault_onset_max_s);
  onset_nanos_ = from_nanos + static_cast<int64_t>(u(rng_) * kNanos);
}

const char* MaintenanceEventKindName(MaintenanceEvent::Kind kind) {
  return kind == MaintenanceEvent::Kind::kFailure ? "failure" : "repair";
}

std::vector<MaintenanceEvent> SimulatedDevice::TakeMaintenanceEvents() {
  std::vector<MaintenanceEvent> out(events_);
  events_.clear();  // keeps the capacity reserved at construction
  return out;
}

void SimulatedDevice::Report(MaintenanceEvent::Kind kind) {
  constexpr size_t kMaxEvents = 64;
  if (events_.size() >= kMaxEvents) events_.erase(events_.begin());
  events_.push_back({kind, last_nanos_, failed_mode_});
}

// The nominal ambient temperature machine specs vary around (RandomSpec: 22..28 °C).
constexpr double kNominalAmbientC = 25;

void SimulatedDevice::ApplyRegime(const RegimeChange& r) {
  if (std::isfinite(r.ambient_c)) conditions_.ambient_shift_c = r.ambient_c - kNominalAmbientC;
  if (std::isfinite(r.vibration_scale)) conditions_.vibration_scale = r.vibration_scale;
  if (std::isfinite(r.sound_db)) conditions_.sound_shift_db = r.sound_db;
  machine_.SetConditions(conditions_);
  if (r.load > 0) {
    duty_load_ = std::clamp(r.load, 0.1, 1.0);
    machine_.SetLoad(duty_load_);
  }
}

int64_t SimulatedDevice::RegimeAt(size_t i) const {
  return start_nanos_ + static_cast<int64_t>(physics_.regimes[i].at_s * kNanos);
}

void SimulatedDevice::ApplyDueRegimes() {
  while (next_regime_ < physics_.regimes.size() && RegimeAt(next_regime_) <= last_nanos_) {
    ApplyRegime(physics_.regimes[next_regime_++]);
  }
}

void SimulatedDevice::AdvanceTo(int64_t now_nanos) {
  while (last_nanos_ < now_nanos) {
    int64_t step_end =
        std::min<int64_t>(now_nanos, last_nanos_ + static_cast<int64_t>(kMaxStepS * kNanos));
    // A regime change takes effect at its time exactly (the same seed replays it the same way).
    ApplyDueRegimes();
    if (next_regime_ < physics_.regimes.size()) {
      step_end = std::min(step_end, RegimeAt(next_regime_));
    }
    if (onset_nanos_ > last_nanos_ && onset_nanos_ < step_end) step_end = onset_nanos_;
    if (down_until_nanos_ > last_nanos_ && down_until_nanos_ < step_end)
      step_end = down_until_nanos_;
    const double dt = static_cast<double>(step_end - last_nanos_) / kNanos;
    if (!down()) machine_.Advance(dt);
    last_nanos_ = step_end;

    if (down_until_nanos_ != 0 && last_nanos_ >= down_until_nanos_) {
      down_until_nanos_ = 0;
      machine_.Repair();
      machine_.SetLoad(duty_load_);  // back in service at its duty load
      Report(MaintenanceEvent::Kind::kRepair);
      if (will_fail_ && physics_.recurring_faults) ScheduleOnset(last_nanos_);
    }
    if (last_nanos_ >= onset_nanos_ && machine_.mode() == FailureMode::kNone && !down()) {
      std::uniform_int_distribution<size_t> pick(0, modes_.size() - 1);
      std::uniform_real_distribution<double> spread(0.7, 1.3);
      machine_.StartFault(modes_[pick(rng_)], physics_.time_to_failure_s * spread(rng_));
      onset_nanos_ = INT64_MAX;
    }
    if (machine_.failed() && !down()) {
      failures_.push_back(last_nanos_);
      failed_mode_ = machine_.mode();
      Report(MaintenanceEvent::Kind::kFailure);
      down_until_nanos_ = last_nanos_ + static_cast<int64_t>(physics_.repair_time_s * kNanos);
      if (down_until_nanos_ <= last_nanos_) {  // instant repair
        machine_.Repair();
        machine_.SetLoad(duty_load_);
        Report(MaintenanceEvent::Kind::kRepair);
        down_until_nanos_ = 0;
        if (will_fail_ && physics_.recurring_faults) ScheduleOnset(last_nanos_);
      }
    }
  }
}

std::optional<Reading> SimulatedDevice::Step(int64_t now_nanos) {
  AdvanceTo(now_nanos);
  ApplyDueRegimes();
  if (down()) return std::nullopt;
  Reading r;
  r.time_nanos = std::max(now_nanos, last_nanos_);
  machine_.SampleVibration(physics_.sample_rate_hz, frame_);
  analyzer_.Analyze(frame_, &r.spectrum);
  r.vibration = r.spectrum.time.rms;
  r.rotation = machine_.MeasureRpm();
  r.temperature = machine_.MeasureTemperature();
  r.sound = machine_.MeasureSound();
  r.mode = machine_.mode();
  r.severity = machine_.severity();
  r.faulty = r.mode != FailureMode::kNone && r.severity >= physics_.degraded_severity;
  const double ttf = machine_.TimeToFailureSeconds();
  r.time_to_failure_s = std::isfinite(ttf) ? ttf : -1;
  return r;
}

}  // namespace aiot::sim
