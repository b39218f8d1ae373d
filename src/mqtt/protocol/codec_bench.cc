// Encode/decode speed of PUBLISH, the packet on the hot path.
#include <benchmark/benchmark.h>

#include "mqtt/protocol/codec.h"

namespace aiot::mqtt {
namespace {

Publish MakePublish(size_t payload, uint8_t qos) {
  Publish p;
  p.topic = "fan/messages";
  p.payload = std::string(payload, 'x');
  p.qos = static_cast<QoS>(qos);
  p.packet_id = qos ? 1 : 0;
  return p;
}

void BM_EncodePublish(benchmark::State& state) {
  const Packet packet = MakePublish(state.range(0), 1);
  std::string buf;
  for (auto _ : state) {
    buf.clear();
    auto n = Encode(packet, kMqtt5, &buf);
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buf.size()));
}
BENCHMARK(BM_EncodePublish)->Arg(64)->Arg(1024);

// Per-subscriber header around a shared payload (the broker's fan-out path).
void BM_EncodePublishHeader(benchmark::State& state) {
  Publish p = MakePublish(state.range(0), 1);
  std::string buf;
  uint16_t id = 1;
  for (auto _ : state) {
    buf.clear();
    p.packet_id = id++ ? id : 1;
    auto n = EncodePublishHeader(p, kMqtt5, &buf);
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodePublishHeader)->Arg(64)->Arg(1024);

void BM_DecodePublish(benchmark::State& state) {
  std::string bytes;
  const int batch = 64;
  for (int i = 0; i < batch; ++i) (void)Encode(MakePublish(state.range(0), 1), kMqtt5, &bytes);
  Decoder d({.protocol_version = kMqtt5});
  for (auto _ : state) {
    d.Feed(bytes);
    for (;;) {
      auto r = d.Next();
      if (!r.ok() || !r->has_value()) break;
      benchmark::DoNotOptimize(**r);
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodePublish)->Arg(64)->Arg(1024);

}  // namespace
}  // namespace aiot::mqtt
