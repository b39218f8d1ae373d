// How fast one core can simulate readings: machine physics, a vibration burst, the device DSP and
// the telemetry JSON. This bounds the simulator's publish rate before any MQTT cost.
#include <benchmark/benchmark.h>

#include "sim/simulated_device.h"

namespace aiot::sim {
namespace {

void BM_Reading(benchmark::State& state) {
  PhysicsConfig p;
  p.frame_size = static_cast<uint32_t>(state.range(0));
  p.fault_onset_max_s = 0;
  p.time_to_failure_s = 1e9;  // faulty (bearing impacts in the waveform), never fails
  p.failure_modes = {"bearing"};
  SimulatedDevice d("fan-0001", p, 1, true, 0);
  int64_t t = 0;
  std::string json;
  for (auto _ : state) {
    t += 1'000'000'000;
    auto r = d.Step(t);
    json.clear();
    AppendTelemetryJson(d.id(), *r, &json);
    benchmark::DoNotOptimize(json.data());
  }
  state.counters["readings/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Reading)->Arg(1024)->Arg(2048)->Arg(4096);

}  // namespace
}  // namespace aiot::sim
