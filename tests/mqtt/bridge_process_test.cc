// broker.bridge across a kill -9 of aiot: `aiot broker` (a child process) buffers what is
// published while the remote mosquitto is down, is killed with SIGKILL, restarted, and delivers
// everything in order once the remote is up. broker.bridges: two bridges in one `aiot broker`,
// each to its own mosquitto, one of them down across a restart of aiot; and the same two bridges
// in `aiot up`'s embedded broker.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mqtt/client/test_util.h"
#include "tests/kafka/aiot_process.h"
#include "tests/mqtt/bridge_testing.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::mqtt {
namespace {

namespace fs = std::filesystem;
using bridge_test::ConnectClient;
using bridge_test::Numbered;
using bridge_test::Received;
using bridge_test::StopClient;
using bridge_test::SubscribeInto;
using kafka_test::AiotProcess;
using kafka_test::MetricAt;
using test_support::FreePort;
using test_support::WaitFor;
using namespace std::chrono_literals;

TEST(MqttBridgeProcess, BufferedMessagesSurviveKill9AndArriveInOrder) {
  if (!testing::Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("mosquitto is not installed");
  char tmpl[] = "/tmp/aiot-mqtt-bridge-proc-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  testing::Mosquitto remote;  // not started yet: the remote is down
  const uint16_t port = FreePort();
  const uint16_t http = FreePort();
  const std::vector<std::string> argv = {
      "--log-level",
      "warn",
      "--set",
      fmt::format("broker.listeners=[127.0.0.1:{}]", port),
      "--set",
      fmt::format("broker.bridge.url=mqtt://127.0.0.1:{}", remote.port()),
      "--set",
      "broker.bridge.name=edge",
      "--set",
      "broker.bridge.reconnect_max_ms=500",
      "--set",
      "broker.bridge.topics=[\"d/# out 1 \\\"\\\" site/\"]",
      "--set",
      "broker.bridge.buffer.dir=" + dir + "/buffer",
      "broker",
      "--http",
      fmt::format("127.0.0.1:{}", http)};
  auto metric = [&](const std::string& name) { return MetricAt(http, name); };
  const std::string buffered =
      "aiot_mqtt_bridge_messages_total{bridge=\"edge\",direction=\"buffered\"";
  testing::IoThread io;
  constexpr int kN = 200;
  {
    AiotProcess aiot(argv);
    ASSERT_TRUE(aiot.Start([&] { return metric("aiot_mqtt_bridge_connected").has_value(); }))
        << "aiot broker did not start";
    auto pub = ConnectClient(io.io(), fmt::format("tcp://127.0.0.1:{}", port));
    ASSERT_TRUE(pub);
    // The bridge's local subscription is in place once a probe is buffered.
    ASSERT_TRUE(WaitFor([&] {
      (void)pub->Publish("d/probe", "probe", {.qos = QoS::kAtLeastOnce});
      return WaitFor([&] { return metric(buffered).value_or(0) >= 1; }, 300ms);
    }));
    const double probes = *metric(buffered);
    for (const auto& p : Numbered("m", kN))
      ASSERT_TRUE(pub->Publish("d/x", p, {.qos = QoS::kAtLeastOnce}).ok());
    ASSERT_TRUE(WaitFor([&] { return metric(buffered).value_or(0) >= probes + kN; }))
        << metric(buffered).value_or(-1);
    EXPECT_EQ(metric("aiot_mqtt_bridge_connected").value_or(-1), 0);
    StopClient(pub);
    aiot.Kill9();
  }
  // The remote comes up with a subscriber before aiot is back.
  ASSERT_TRUE(remote.Start());
  auto sub = ConnectClient(io.io(), remote.url());
  ASSERT_TRUE(sub);
  Received got;
  ASSERT_TRUE(SubscribeInto(*sub, "site/d/#", got));
  AiotProcess aiot(argv);
  ASSERT_TRUE(aiot.Start([&] { return metric("aiot_mqtt_bridge_connected").has_value(); }));
  EXPECT_GE(
      metric("aiot_mqtt_bridge_buffer{bridge=\"edge\",value=\"recovered_messages\"").value_or(0),
      kN);
  ASSERT_TRUE(WaitFor([&] { return got.payloads_without("probe").size() >= kN; }, 60s))
      << got.payloads_without("probe").size() << " of " << kN;
  EXPECT_EQ(got.payloads_without("probe"), Numbered("m", kN));
  ASSERT_TRUE(WaitFor([&] {
    return metric("aiot_mqtt_bridge_buffer{bridge=\"edge\",value=\"messages\"").value_or(-1) == 0;
  }));
  EXPECT_EQ(aiot.Terminate(), 0);
  StopClient(sub);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// The payloads of `got` that start with `prefix`, in arrival order.
std::vector<std::string> Starting(const Received& got, const std::string& prefix) {
  std::vector<std::string> out;
  for (auto& p : got.payloads()) {
    if (p.starts_with(prefix)) out.push_back(p);
  }
  return out;
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Publishes `payload` on `topic` through `pub` until `got` has a message starting with `payload`
// (a subscription or a bridge is in place once one goes through).
bool ProbeThrough(Client& pub, const std::string& topic, const std::string& payload,
                  const Received& got) {
  return WaitFor([&] {
    (void)pub.Publish(topic, payload, {.qos = QoS::kAtLeastOnce});
    return WaitFor([&] { return !Starting(got, payload).empty(); }, 300ms);
  });
}

// Mosquitto users' setup: a site bridged to a central broker and to a backup (broker.bridges in
// aiot.yaml). Telemetry d/# goes out to both (as site/d/#); commands come in from each (site/cmd/#
// on the remote, <remote>/cmd/# locally). The backup stops while the site publishes; aiot is
// restarted (SIGTERM) with the backup still down; then the backup returns: central got everything
// live, the backup everything from its buffer, each in order, nothing twice.
TEST(MqttBridgeProcess, TwoBridgesEachCarryBothWaysAndForwardInOrderAcrossARestart) {
  if (!testing::Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("mosquitto is not installed");
  char tmpl[] = "/tmp/aiot-mqtt-bridges-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0777);
  const std::string db = dir + "/backup-db/";
  fs::create_directories(db);
  ::chmod(db.c_str(), 0777);
  testing::Mosquitto central;
  // The backup keeps its persistent sessions across its stop (its consumer is offline meanwhile).
  testing::Mosquitto backup(0, "persistence true\npersistence_location " + db);
  ASSERT_TRUE(central.Start());
  ASSERT_TRUE(backup.Start());
  const uint16_t port = FreePort();
  const uint16_t http = FreePort();
  const std::string yaml = dir + "/aiot.yaml";
  {
    std::ofstream out(yaml);
    out << fmt::format(
        "broker:\n"
        "  listeners: [\"127.0.0.1:{}\"]\n"
        "  bridges:\n"
        "    - name: central\n"
        "      url: mqtt://127.0.0.1:{}\n"
        "      reconnect_max_ms: 500\n"
        "      topics: ['d/# out 1 \"\" site/', 'cmd/# in 1 central/ site/']\n"
        "      buffer: {{dir: {}/central}}\n"
        "    - name: backup\n"
        "      url: mqtt://127.0.0.1:{}\n"
        "      reconnect_max_ms: 500\n"
        "      topics: ['d/# out 1 \"\" site/', 'cmd/# in 1 backup/ site/']\n"
        "      buffer: {{dir: {}/backup}}\n",
        port, central.port(), dir, backup.port(), dir);
    ASSERT_TRUE(out.good());
  }
  const std::vector<std::string> argv = {"--log-level",
                                         "warn",
                                         "--config",
                                         yaml,
                                         "broker",
                                         "--http",
                                         fmt::format("127.0.0.1:{}", http)};
  auto metric = [&](const std::string& name) { return MetricAt(http, name); };
  auto of = [](const std::string& bridge, const std::string& family, const std::string& label) {
    return fmt::format("aiot_mqtt_bridge_{}{{bridge=\"{}\"{}", family, bridge,
                       label.empty() ? "}" : ",value=\"" + label + "\"");
  };
  auto connected = [&](const std::string& bridge) {
    return metric(of(bridge, "connected", "")).value_or(-1) == 1;
  };
  const std::string local_url = fmt::format("tcp://127.0.0.1:{}", port);
  testing::IoThread io;
  constexpr int kLive = 100, kIn = 40, kDown = 200, kAfter = 50;

  // Both remotes have a subscriber to the site's telemetry; the backup's is a persistent session.
  auto central_sub = ConnectClient(io.io(), central.url());
  ASSERT_TRUE(central_sub);
  Received at_central;
  ASSERT_TRUE(SubscribeInto(*central_sub, "site/d/#", at_central));
  bridge_test::ClientOptions persistent;
  persistent.client_id = "backup-consumer";
  persistent.clean_start = false;
  persistent.session_expiry_s = 3600;
  Received at_backup;
  auto backup_sub = ConnectClient(io.io(), backup.url(), persistent);
  ASSERT_TRUE(backup_sub);
  ASSERT_TRUE(SubscribeInto(*backup_sub, "site/d/#", at_backup));
  auto central_pub = ConnectClient(io.io(), central.url());
  auto backup_pub = ConnectClient(io.io(), backup.url());
  ASSERT_TRUE(central_pub && backup_pub);

  {
    AiotProcess aiot(argv);
    ASSERT_TRUE(aiot.Start([&] { return connected("central") && connected("backup"); }))
        << "aiot broker did not start with both bridges connected";
    auto pub = ConnectClient(io.io(), local_url);
    ASSERT_TRUE(pub);
    Received local;  // commands from both remotes
    ASSERT_TRUE(SubscribeInto(*pub, "+/cmd/#", local));
    // Out on both bridges, then in on each.
    ASSERT_TRUE(ProbeThrough(*pub, "d/probe", "probe", at_central));
    ASSERT_TRUE(WaitFor([&] { return !Starting(at_backup, "probe").empty(); }));
    ASSERT_TRUE(ProbeThrough(*central_pub, "site/cmd/probe", "probe-c", local));
    ASSERT_TRUE(ProbeThrough(*backup_pub, "site/cmd/probe", "probe-b", local));

    for (const auto& p : Numbered("a", kLive))
      ASSERT_TRUE(pub->Publish("d/x", p, {.qos = QoS::kAtLeastOnce}).ok());
    for (int i = 0; i < kIn; ++i) {
      ASSERT_TRUE(
          central_pub->Publish("site/cmd/x", "c" + std::to_string(i), {.qos = QoS::kAtLeastOnce})
              .ok());
      ASSERT_TRUE(
          backup_pub->Publish("site/cmd/x", "b" + std::to_string(i), {.qos = QoS::kAtLeastOnce})
              .ok());
    }
    ASSERT_TRUE(WaitFor(
        [&] {
          return Starting(at_central, "a").size() >= kLive &&
                 Starting(at_backup, "a").size() >= kLive && Starting(local, "c").size() >= kIn &&
                 Starting(local, "b").size() >= kIn;
        },
        60s))
        << Starting(at_central, "a").size() << " " << Starting(at_backup, "a").size() << " "
        << Starting(local, "c").size() << " " << Starting(local, "b").size();
    EXPECT_EQ(Starting(at_central, "a"), Numbered("a", kLive));
    EXPECT_EQ(Starting(at_backup, "a"), Numbered("a", kLive));
    EXPECT_EQ(Starting(local, "c"), Numbered("c", kIn));
    EXPECT_EQ(Starting(local, "b"), Numbered("b", kIn));
    // Each remote's commands arrive under that bridge's local prefix.
    const std::vector<std::string> payloads = local.payloads(), topics = local.topics();
    ASSERT_EQ(payloads.size(), topics.size());
    for (size_t i = 0; i < payloads.size(); ++i) {
      const std::string& p = payloads[i];
      if (p.starts_with("c")) {
        EXPECT_TRUE(topics[i].starts_with("central/cmd/")) << topics[i] << " " << p;
      } else if (p.starts_with("b")) {
        EXPECT_TRUE(topics[i].starts_with("backup/cmd/")) << topics[i] << " " << p;
      }
    }
    EXPECT_GE(
        metric("aiot_mqtt_bridge_messages_total{bridge=\"backup\",direction=\"in\"").value_or(0),
        kIn);
    EXPECT_GE(
        metric("aiot_mqtt_bridge_messages_total{bridge=\"central\",direction=\"in\"").value_or(0),
        kIn);

    // The backup has acknowledged all the a's to its bridge (none is left to resend).
    ASSERT_TRUE(WaitFor([&] { return metric(of("backup", "buffer", "messages")) == 0.0; }));
    // The backup goes away (its consumer first: the session keeps what arrives for it).
    StopClient(backup_sub);
    StopClient(backup_pub);
    backup.Stop();
    ASSERT_TRUE(WaitFor([&] { return metric(of("backup", "connected", "")).value_or(-1) == 0; }));
    const std::string buffered =
        "aiot_mqtt_bridge_messages_total{bridge=\"backup\",direction=\"buffered\"";
    const double before = metric(buffered).value_or(0);
    for (const auto& p : Numbered("n", kDown))
      ASSERT_TRUE(pub->Publish("d/x", p, {.qos = QoS::kAtLeastOnce}).ok());
    ASSERT_TRUE(WaitFor([&] { return Starting(at_central, "n").size() >= kDown; }, 60s))
        << Starting(at_central, "n").size();
    ASSERT_TRUE(WaitFor([&] { return metric(buffered).value_or(0) >= before + kDown; }, 60s));
    EXPECT_TRUE(connected("central"));
    // (The buffer gauges are updated every 500 ms.)
    EXPECT_TRUE(WaitFor([&] {
      return metric(of("backup", "buffer", "messages")).value_or(0) >= kDown;
    })) << metric(of("backup", "buffer", "messages")).value_or(-1);
    // Central has acknowledged everything: nothing of it is resent after the restart.
    ASSERT_TRUE(WaitFor([&] { return metric(of("central", "buffer", "messages")) == 0.0; }));
    StopClient(pub);
    EXPECT_EQ(aiot.Terminate(), 0);
  }

  // aiot again, the backup still down: its bridge has the buffered messages, central carries on.
  AiotProcess aiot(argv);
  ASSERT_TRUE(aiot.Start([&] { return connected("central"); }));
  EXPECT_GE(metric(of("backup", "buffer", "recovered_messages")).value_or(0), kDown);
  EXPECT_EQ(metric(of("backup", "connected", "")).value_or(-1), 0);
  auto pub = ConnectClient(io.io(), local_url);
  ASSERT_TRUE(pub);
  Received local;
  ASSERT_TRUE(SubscribeInto(*pub, "+/cmd/#", local));
  ASSERT_TRUE(ProbeThrough(*central_pub, "site/cmd/probe", "probe-c", local));
  ASSERT_TRUE(ProbeThrough(*pub, "d/probe", "probe2", at_central));
  for (const auto& p : Numbered("q", kAfter))
    ASSERT_TRUE(pub->Publish("d/x", p, {.qos = QoS::kAtLeastOnce}).ok());
  for (const auto& p : Numbered("r", kIn))
    ASSERT_TRUE(central_pub->Publish("site/cmd/x", p, {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor([&] { return Starting(at_central, "q").size() >= kAfter; }, 60s));
  ASSERT_TRUE(WaitFor([&] { return Starting(local, "r").size() >= kIn; }, 60s));
  EXPECT_EQ(Starting(local, "r"), Numbered("r", kIn));
  // Central: everything once, in order, across the restart.
  EXPECT_EQ(Concat(Concat(Starting(at_central, "a"), Starting(at_central, "n")),
                   Starting(at_central, "q")),
            Concat(Concat(Numbered("a", kLive), Numbered("n", kDown)), Numbered("q", kAfter)));
  EXPECT_EQ(at_central.payloads_without("probe").size(),
            static_cast<size_t>(kLive + kDown + kAfter));

  // The backup returns: its bridge sends what it kept, in order, into the consumer's session.
  ASSERT_TRUE(WaitFor(
      [&] { return metric(of("backup", "buffer", "messages")).value_or(0) >= kDown + kAfter; }));
  ASSERT_TRUE(backup.Start());
  ASSERT_TRUE(WaitFor([&] { return metric(of("backup", "buffer", "messages")) == 0.0; }, 60s))
      << metric(of("backup", "buffer", "messages")).value_or(-1) << " still buffered";
  EXPECT_TRUE(connected("backup"));
  Received again;
  persistent.unmatched = &again;
  auto backup_again = ConnectClient(io.io(), backup.url(), persistent);
  ASSERT_TRUE(backup_again);
  // What the bridge kept (n, q), in arrival order. The session may also hand the consumer again
  // the a's it had received but not yet acknowledged when it disconnected (its own QoS 1
  // redelivery, not the bridge's): those were all delivered before, and are left out.
  auto kept = [&] {
    std::vector<std::string> out;
    for (auto& p : again.payloads()) {
      if (p.starts_with("n") || p.starts_with("q")) out.push_back(p);
    }
    return out;
  };
  ASSERT_TRUE(WaitFor([&] { return kept().size() >= static_cast<size_t>(kDown + kAfter); }, 60s))
      << kept().size();
  EXPECT_EQ(kept(), Concat(Numbered("n", kDown), Numbered("q", kAfter)));
  for (auto& p : again.payloads_without("probe")) {
    if (p.starts_with("a")) {
      EXPECT_EQ(Starting(at_backup, p).size(), 1u) << p;
    }
  }
  EXPECT_GE(
      metric("aiot_mqtt_bridge_messages_total{bridge=\"backup\",direction=\"out\"").value_or(0),
      kDown + kAfter);
  EXPECT_EQ(aiot.Terminate(), 0);
  for (auto& c : {pub, central_sub, central_pub, backup_again}) StopClient(c);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// broker.bridges in `aiot up` (its embedded broker), not only in `aiot broker`: two bridges, each
// to its own mosquitto with its own topic lines. Telemetry d/# goes out to central only, alerts/#
// to the backup only, commands come in from central; each remote gets what its lines say, in
// order, and nothing else; both bridges show in aiot up's /metrics.
TEST(MqttBridgeProcess, AiotUpRunsTwoBridgesOfItsEmbeddedBroker) {
  if (!testing::Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("mosquitto is not installed");
  test_support::TempDir dir("aiot-up-bridges");
  testing::Mosquitto central, backup;
  ASSERT_TRUE(central.Start());
  ASSERT_TRUE(backup.Start());
  const uint16_t port = FreePort();
  const uint16_t http = FreePort();
  const std::string yaml = dir.File("aiot.yaml");
  {
    std::ofstream out(yaml);
    out << fmt::format(
        "http:\n"
        "  listen: \"127.0.0.1:{}\"\n"
        "registry:\n"
        "  data_dir: {}\n"
        "store:\n"
        "  path: {}\n"
        "bootstrap:\n"
        "  enabled: false\n"
        "broker:\n"
        "  listeners: [\"127.0.0.1:{}\"]\n"
        "  bridges:\n"
        "    - name: central\n"
        "      url: mqtt://127.0.0.1:{}\n"
        "      topics: ['d/# out 1 \"\" site/', 'cmd/# in 1 central/ site/']\n"
        "      buffer: {{dir: {}}}\n"
        "    - name: backup\n"
        "      url: mqtt://127.0.0.1:{}\n"
        "      topics: ['alerts/# out 1 \"\" site/']\n"
        "      buffer: {{dir: {}}}\n",
        http, dir.File("var"), dir.File("telemetry.db"), port, central.port(), dir.File("central"),
        backup.port(), dir.File("backup"));
    ASSERT_TRUE(out.good());
  }
  auto metric = [&](const std::string& name) { return MetricAt(http, name); };
  auto connected = [&](const std::string& bridge) {
    return metric("aiot_mqtt_bridge_connected{bridge=\"" + bridge + "\"}").value_or(-1) == 1;
  };
  auto messages = [&](const std::string& bridge, const std::string& direction) {
    return metric(fmt::format("aiot_mqtt_bridge_messages_total{{bridge=\"{}\",direction=\"{}\"",
                              bridge, direction))
        .value_or(0);
  };
  testing::IoThread io;
  constexpr int kOut = 100, kIn = 40;
  Received at_central, at_backup;
  auto central_sub = ConnectClient(io.io(), central.url());
  auto backup_sub = ConnectClient(io.io(), backup.url());
  auto central_pub = ConnectClient(io.io(), central.url());
  ASSERT_TRUE(central_sub && backup_sub && central_pub);
  ASSERT_TRUE(SubscribeInto(*central_sub, "site/#", at_central));
  ASSERT_TRUE(SubscribeInto(*backup_sub, "site/#", at_backup));

  AiotProcess up({"--log-level", "warn", "--config", yaml, "up"});
  ASSERT_TRUE(up.Start([&] { return connected("central") && connected("backup"); }, 120s))
      << "aiot up did not start with both bridges connected";
  auto pub = ConnectClient(io.io(), fmt::format("tcp://127.0.0.1:{}", port));
  ASSERT_TRUE(pub);
  Received local;
  ASSERT_TRUE(SubscribeInto(*pub, "+/cmd/#", local));
  ASSERT_TRUE(ProbeThrough(*pub, "d/probe", "probe-d", at_central));
  ASSERT_TRUE(ProbeThrough(*pub, "alerts/probe", "probe-a", at_backup));
  ASSERT_TRUE(ProbeThrough(*central_pub, "site/cmd/probe", "probe-c", local));

  for (const auto& p : Numbered("d", kOut))
    ASSERT_TRUE(pub->Publish("d/x", p, {.qos = QoS::kAtLeastOnce}).ok());
  for (const auto& p : Numbered("a", kOut))
    ASSERT_TRUE(pub->Publish("alerts/x", p, {.qos = QoS::kAtLeastOnce}).ok());
  for (const auto& p : Numbered("c", kIn))
    ASSERT_TRUE(central_pub->Publish("site/cmd/x", p, {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        return Starting(at_central, "d").size() >= kOut &&
               Starting(at_backup, "a").size() >= kOut && Starting(local, "c").size() >= kIn;
      },
      60s))
      << Starting(at_central, "d").size() << " " << Starting(at_backup, "a").size() << " "
      << Starting(local, "c").size();
  EXPECT_EQ(Starting(at_central, "d"), Numbered("d", kOut));
  EXPECT_EQ(Starting(at_backup, "a"), Numbered("a", kOut));
  EXPECT_EQ(Starting(local, "c"), Numbered("c", kIn));
  // Each remote got its own lines' topics only, under the remote prefix (central's subscriber
  // also sees the commands published on central, site/cmd/...).
  for (const auto& t : at_central.topics())
    EXPECT_TRUE(t.starts_with("site/d/") || t.starts_with("site/cmd/")) << t;
  for (const auto& t : at_backup.topics()) EXPECT_TRUE(t.starts_with("site/alerts/")) << t;
  for (const auto& t : local.topics()) EXPECT_TRUE(t.starts_with("central/cmd/")) << t;
  // aiot up's /metrics: both bridges connected, with what each carried.
  EXPECT_TRUE(connected("central"));
  EXPECT_TRUE(connected("backup"));
  // (A message is counted out once the remote has acknowledged it, which may follow its delivery.)
  EXPECT_TRUE(WaitFor([&] { return messages("central", "out") >= kOut; }))
      << messages("central", "out");
  EXPECT_TRUE(WaitFor([&] { return messages("backup", "out") >= kOut; }))
      << messages("backup", "out");
  EXPECT_TRUE(WaitFor([&] { return messages("central", "in") >= kIn; }))
      << messages("central", "in");
  EXPECT_EQ(messages("backup", "in"), 0);
  StopClient(pub);
  EXPECT_EQ(up.Terminate(), 0);
  for (auto& c : {central_sub, backup_sub, central_pub}) StopClient(c);
}

}  // namespace
}  // namespace aiot::mqtt
