#include "sim/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>

#include "base/clock.h"
#include "base/errc.h"

namespace aiot::sim {
namespace {

constexpr int64_t kNanos = 1'000'000'000;

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

const std::vector<std::string>& HistoryColumns() {
  static const std::vector<std::string> c = {
      "rotation",   "temperature", "vibration",  "sound",      "timeStamp",
      "deviceID",   "rms",         "peak",       "crest",      "kurtosis",
      "dominantHz", "centroidHz",  "band_shaft", "band_blade", "band_mid",
      "band_high",  "mode",        "severity",   "faulty",     "time_to_failure_s"};
  return c;
}

std::string DeviceId(std::string_view prefix, uint32_t index) {
  return fmt::format("{}{:04d}", prefix, index + 1);
}

std::vector<bool> PickFaulty(uint32_t devices, double faulty_fraction, uint64_t seed) {
  std::vector<uint32_t> order(devices);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 rng(seed ^ 0x5eedfa17ULL);
  std::shuffle(order.begin(), order.end(), rng);
  const auto n = static_cast<uint32_t>(
      std::lround(std::clamp(faulty_fraction, 0.0, 1.0) * static_cast<double>(devices)));
  std::vector<bool> faulty(devices, false);
  for (uint32_t i = 0; i < n; ++i) faulty[order[i]] = true;
  return faulty;
}

Result<HistoryStats> WriteHistoryCsv(const HistoryConfig& config, std::ostream& out,
                                     std::ostream* maintenance) {
  if (!ValidatePhysics(config.physics).ok() || config.devices == 0 || !(config.interval_s > 0)) {
    return errc::invalid_argument;
  }
  const auto faulty = PickFaulty(config.devices, config.faulty_fraction, config.seed);
  std::vector<std::unique_ptr<SimulatedDevice>> fleet;
  std::mt19937_64 seeder(config.seed);
  for (uint32_t i = 0; i < config.devices; ++i) {
    fleet.push_back(std::make_unique<SimulatedDevice>(DeviceId(config.id_prefix, i), config.physics,
                                                      seeder(), faulty[i], config.start_nanos));
  }
  if (maintenance) *maintenance << "device,kind,at,mode\n";
  const auto& cols = HistoryColumns();
  for (size_t i = 0; i < cols.size(); ++i) out << (i ? "," : "") << cols[i];
  out << '\n';

  HistoryStats stats;
  std::string line;
  const auto interval = static_cast<int64_t>(config.interval_s * kNanos);
  std::uniform_int_distribution<int64_t> jitter(0, interval / 10);
  for (int64_t step = 0; stats.rows < config.rows; ++step) {
    for (auto& d : fleet) {
      if (stats.rows >= config.rows) break;
      const size_t failures_before = d->failures().size();
      auto r = d->Step(config.start_nanos + step * interval + jitter(seeder));
      stats.failures += d->failures().size() - failures_before;
      for (const MaintenanceEvent& e : d->TakeMaintenanceEvents()) {
        if (!maintenance) continue;
        *maintenance << d->id() << ',' << MaintenanceEventKindName(e.kind) << ','
                     << FormatTimestamp(e.time_nanos) << ',' << FailureModeName(e.mode) << '\n';
      }
      if (!r) continue;
      const auto& s = r->spectrum;
      line.clear();
      fmt::format_to(std::back_inserter(line),
                     "{:.1f},{:.1f},{:.1f},{:.1f},{},{},{:.2f},{:.2f},{:.3f},{:.3f},{:.2f},{:.1f},"
                     "{:.1f},{:.1f},{:.1f},{:.1f},{},{:.4f},{},{:.0f}\n",
                     r->rotation, r->temperature, r->vibration, r->sound,
                     FormatTimestamp(r->time_nanos), d->id(), s.time.rms, s.time.peak,
                     s.time.crest_factor, s.time.kurtosis, s.dominant.frequency_hz, s.centroid_hz,
                     s.band_energy[0], s.band_energy[1], s.band_energy[2], s.band_energy[3],
                     FailureModeName(r->mode), r->severity, r->faulty ? 1 : 0,
                     r->time_to_failure_s);
      out << line;
      ++stats.rows;
      stats.faulty_rows += r->faulty ? 1 : 0;
    }
  }
  out.flush();
  if (maintenance) maintenance->flush();
  if (!out || (maintenance && !*maintenance)) return errc::io_error;
  return stats;
}

DetectionReport EvaluateDetection(const DetectionConfig& config, const Scorer& score) {
  DetectionReport report;
  PhysicsConfig physics = config.physics;
  physics.recurring_faults = false;
  const int64_t start = 1'767'225'600'000'000'000;
  const auto interval = static_cast<int64_t>(config.interval_s * kNanos);
  // Long enough for the slowest fault: latest onset + ttf * 1.3 (+ margin).
  const auto horizon =
      static_cast<int64_t>((physics.fault_onset_max_s + physics.time_to_failure_s * 1.5) * kNanos);
  std::mt19937_64 seeder(config.seed);
  std::vector<double> ttfs;

  for (uint32_t i = 0; i < config.faulty_devices + config.healthy_devices; ++i) {
    const bool will_fail = i < config.faulty_devices;
    SimulatedDevice d(DeviceId("eval-", i), physics, seeder(), will_fail, start);
    uint32_t run = 0;
    bool alerted = false;
    int64_t alert_time = 0, onset = d.next_onset_nanos();
    for (int64_t t = start; t <= start + horizon; t += interval) {
      auto r = d.Step(t);
      if (!d.failures().empty()) break;
      if (!r) continue;
      const bool fault_active = r->mode != FailureMode::kNone;
      const bool critical = score(*r) >= config.critical;
      if (!fault_active) {
        ++report.healthy_readings;
        report.healthy_critical += critical ? 1 : 0;
      }
      run = critical ? run + 1 : 0;
      if (run >= config.consecutive && !alerted) {
        alerted = true;
        alert_time = r->time_nanos;
        if (!fault_active) {
          // An alert on a machine that is still healthy is a false alarm, not a catch.
          if (!will_fail) ++report.healthy_devices_alerted;
          alerted = will_fail ? false : alerted;
          if (will_fail) run = 0;
        }
      }
    }
    if (will_fail && !d.failures().empty()) {
      ++report.failures;
      const int64_t failure = d.failures().front();
      ttfs.push_back(static_cast<double>(failure - onset) / kNanos);
      if (alerted) {
        ++report.caught;
        report.lead_times_s.push_back(static_cast<double>(failure - alert_time) / kNanos);
      }
    }
    if (!will_fail) ++report.healthy_devices;
  }
  report.median_lead_s = Median(report.lead_times_s);
  report.median_time_to_failure_s = Median(ttfs);
  return report;
}

}  // namespace aiot::sim
