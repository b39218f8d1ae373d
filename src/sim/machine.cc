#include "sim/machine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace aiot::sim {
namespace {

constexpr double kTwoPi = 2 * std::numbers::pi;
constexpr double kThermalTimeConstantS = 300;
// Share of the healthy mean-square vibration in each component.
constexpr double kShare1x = 0.35, kShare2x = 0.08, kShareBlade = 0.17, kShareNoise = 0.40;
// Extra mean square (in units of the healthy mean square) at severity 1, per mode: total RMS at
// failure is about sqrt(1 + extra) times the healthy RMS, which keeps vibration below ~250.
constexpr double kExtraImbalance = 1.6, kExtraBlade = 0.9, kExtraBearing = 1.4;
// Bearing impacts decay with this time constant (s).
constexpr double kImpactDecayS = 0.003;

}  // namespace

const char* FailureModeName(FailureMode mode) {
  switch (mode) {
    case FailureMode::kNone:
      return "none";
    case FailureMode::kBearingWear:
      return "bearing";
    case FailureMode::kImbalance:
      return "imbalance";
    case FailureMode::kBladeDegradation:
      return "blade";
  }
  return "?";
}

bool ParseFailureMode(std::string_view name, FailureMode* out) {
  for (FailureMode m : {FailureMode::kNone, FailureMode::kBearingWear, FailureMode::kImbalance,
                        FailureMode::kBladeDegradation}) {
    if (name == FailureModeName(m)) {
      *out = m;
      return true;
    }
  }
  return false;
}

MachineSpec RandomSpec(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  MachineSpec s;
  s.rated_rpm = 570 + 60 * u(rng);
  s.blades = 4 + static_cast<int>(3 * u(rng));  // 4..6
  s.bpfo_ratio = 3.2 + 0.6 * u(rng);
  s.resonance_hz = 1000 + 400 * u(rng);
  s.ambient_c = 22 + 6 * u(rng);
  s.healthy_temperature_c = 37 + 5 * u(rng);
  s.healthy_vibration = 125 + 45 * u(rng);
  s.healthy_sound_db = 46.5 + 3 * u(rng);
  return s;
}

Machine::Machine(const MachineSpec& spec, uint64_t seed)
    : spec_(spec), built_(spec), rng_(seed), temperature_c_(spec.healthy_temperature_c) {}

void Machine::SetConditions(const OperatingConditions& c) {
  spec_ = built_;
  spec_.ambient_c += c.ambient_shift_c;
  spec_.healthy_temperature_c += c.ambient_shift_c;
  spec_.healthy_vibration *= c.vibration_scale;
  spec_.healthy_sound_db += c.sound_shift_db;
}

void Machine::StartFault(FailureMode mode, double time_to_failure_s) {
  mode_ = mode;
  damage_ = 0;
  damage_rate_ = mode == FailureMode::kNone ? 0 : 1.0 / std::max(1.0, time_to_failure_s);
}

void Machine::Repair() { StartFault(FailureMode::kNone, 0); }

void Machine::SetLoad(double load) { load_ = std::clamp(load, 0.1, 1.0); }

double Machine::SteadyTemperature() const {
  const double rise = (spec_.healthy_temperature_c - spec_.ambient_c) * (0.6 + 0.4 * load_);
  const double fault_heat = 14.0 * SeverityOf(FailureMode::kBearingWear) +
                            4.0 * SeverityOf(FailureMode::kBladeDegradation) +
                            3.0 * SeverityOf(FailureMode::kImbalance);
  return spec_.ambient_c + rise + fault_heat * (0.5 + 0.5 * load_);
}

void Machine::Advance(double dt_s) {
  if (dt_s <= 0) return;
  if (mode_ != FailureMode::kNone && !failed()) {
    // Wear is noisy: a log-normal factor per step, mean 1.
    std::normal_distribution<double> n(0, 0.3);
    const double factor = std::exp(n(rng_) - 0.045);
    damage_ = std::min(1.0, damage_ + damage_rate_ * load_ * load_ * load_ * factor * dt_s);
  }
  const double target = SteadyTemperature();
  temperature_c_ = target + (temperature_c_ - target) * std::exp(-dt_s / kThermalTimeConstantS);
}

double Machine::TimeToFailureSeconds() const {
  if (mode_ == FailureMode::kNone || damage_rate_ <= 0) {
    return std::numeric_limits<double>::infinity();
  }
  return (1.0 - damage_) / (damage_rate_ * load_ * load_ * load_);
}

double Machine::Rpm() const {
  return spec_.rated_rpm * (1.0 - 0.30 * SeverityOf(FailureMode::kBladeDegradation) -
                            0.06 * SeverityOf(FailureMode::kBearingWear) -
                            0.03 * SeverityOf(FailureMode::kImbalance));
}

double Machine::MeasureRpm() {
  std::normal_distribution<double> n(0, 3.0);
  return Rpm() + n(rng_);
}

double Machine::MeasureTemperature() {
  std::normal_distribution<double> n(0, 0.4);
  return temperature_c_ + n(rng_);
}

double Machine::MeasureSound() {
  std::normal_distribution<double> n(0, 0.5);
  return spec_.healthy_sound_db + 9.0 * SeverityOf(FailureMode::kBladeDegradation) +
         5.0 * SeverityOf(FailureMode::kBearingWear) + 3.5 * SeverityOf(FailureMode::kImbalance) -
         1.5 * (1.0 - load_) + n(rng_);
}

void Machine::SampleVibration(double fs, std::span<float> out) {
  std::uniform_real_distribution<double> phase(0, kTwoPi);
  std::normal_distribution<double> normal(0, 1);
  const double v = spec_.healthy_vibration * (0.75 + 0.25 * load_);
  const double f1 = Rpm() / 60.0;
  const double s_imb = SeverityOf(FailureMode::kImbalance);
  const double s_blade = SeverityOf(FailureMode::kBladeDegradation);
  const double s_bear = SeverityOf(FailureMode::kBearingWear);

  const double a1 = v * std::sqrt(2 * (kShare1x + kExtraImbalance * s_imb));
  const double a2 = v * std::sqrt(2 * kShare2x);
  const double ab = v * std::sqrt(2 * (kShareBlade + kExtraBlade * s_blade));
  const double sigma = v * std::sqrt(kShareNoise);
  const double p1 = phase(rng_), p2 = phase(rng_), pb = phase(rng_);
  const double w1 = kTwoPi * f1 / fs;
  const double wb = w1 * spec_.blades;

  // Bearing impacts: one per BPFO period, each a decaying ring of the resonance. The amplitude
  // gives the impacts a mean square of kExtraBearing * severity * v^2 (a decaying sine's energy per
  // period is about B^2 tau / 4).
  const double bpfo = f1 * spec_.bpfo_ratio;
  const double period = 1.0 / bpfo;
  const double impact_amp = v * std::sqrt(4 * kExtraBearing * s_bear * period / kImpactDecayS);
  const double wr = kTwoPi * spec_.resonance_hz / fs;
  double next_impact = std::uniform_real_distribution<double>(0, period)(rng_);
  double since_impact = 1e9, impact_scale = 0;

  for (size_t i = 0; i < out.size(); ++i) {
    const double t = static_cast<double>(i) / fs;
    const double x = static_cast<double>(i);
    double s = a1 * std::sin(w1 * x + p1) + a2 * std::sin(2 * w1 * x + p2) +
               ab * std::sin(wb * x + pb) + sigma * normal(rng_);
    if (impact_amp > 0) {
      if (t >= next_impact) {
        since_impact = 0;
        impact_scale = impact_amp * (0.7 + 0.6 * phase(rng_) / kTwoPi);
        next_impact += period;
      }
      if (since_impact < 10 * kImpactDecayS) {
        s += impact_scale * std::exp(-since_impact / kImpactDecayS) *
             std::sin(wr * since_impact * fs);
      }
      since_impact += 1.0 / fs;
    }
    out[i] = static_cast<float>(s);
  }
}

}  // namespace aiot::sim
