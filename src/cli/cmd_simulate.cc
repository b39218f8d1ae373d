// `aiot simulate`: a fleet of simulated machines.
//   --history ROWS --out FILE.csv          a labeled historical data set for training
//   --devices N --rate R --mqtt URL ...    live telemetry from N device agents over MQTT
//   --replay FILE.csv --rate R             publishes the rows of a CSV as telemetry
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <algorithm>
#include <atomic>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/errc.h"
#include "base/log.h"
#include "cli/command.h"
#include "ml/data/csv.h"
#include "mqtt/client/client.h"
#include "net/runtime.h"
#include "sim/fleet.h"
#include "sim/history.h"
#include "sim/sim_config.h"

namespace aiot::cli {
namespace {

namespace asio = boost::asio;

struct SimulateOptions {
  sim::FleetConfig fleet;
  uint64_t history_rows = 0;
  std::string out, maintenance_out;
  double interval_s = 60;
  double ttf_s = 0;
  std::string replay;
  double duration_s = 0;
  uint32_t threads = 0;
  std::string username, password;
};

int RunHistory(const SimulateOptions& o) {
  sim::HistoryConfig h;
  h.rows = o.history_rows;
  h.devices = o.fleet.devices;
  h.id_prefix = o.fleet.id_prefix;
  h.faulty_fraction = o.fleet.faulty_fraction;
  h.seed = o.fleet.seed;
  h.interval_s = o.interval_s;
  auto physics = sim::PhysicsWithRegimes(o.fleet);
  if (!physics.ok()) {
    std::cerr << "aiot simulate: --regime: " << physics.status().message() << "\n";
    return kExitUsage;
  }
  h.physics = *physics;
  h.physics.recurring_faults = true;
  if (o.ttf_s > 0) h.physics.time_to_failure_s = o.ttf_s;
  if (!sim::ValidatePhysics(h.physics).ok()) {
    std::cerr << "invalid simulator physics configuration (frame size, window, failure modes)\n";
    return kExitUsage;
  }
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (!o.out.empty() && o.out != "-") {
    file.open(o.out, std::ios::out | std::ios::trunc);
    if (!file) {
      std::cerr << "cannot write " << o.out << "\n";
      return kExitFailure;
    }
    out = &file;
  }
  std::ofstream maintenance;
  if (!o.maintenance_out.empty()) {
    maintenance.open(o.maintenance_out, std::ios::out | std::ios::trunc);
    if (!maintenance) {
      std::cerr << "cannot write " << o.maintenance_out << "\n";
      return kExitFailure;
    }
  }
  auto stats = sim::WriteHistoryCsv(h, *out, maintenance.is_open() ? &maintenance : nullptr);
  if (!stats.ok()) {
    std::cerr << "writing history failed: " << stats.status().message() << "\n";
    return kExitFailure;
  }
  log::Get("sim")->info("wrote {} rows ({} labeled faulty, {} failures) from {} devices to {}",
                        stats->rows, stats->faulty_rows, stats->failures, h.devices,
                        o.out.empty() ? "stdout" : o.out);
  return kExitOk;
}

mqtt::MqttClientConfig ClientTemplate(const SimulateOptions& o) {
  mqtt::MqttClientConfig c;
  c.url = o.fleet.mqtt_url;
  c.username = o.username;
  c.password = o.password;
  c.keep_alive_s = 60;
  CheckFlags(c, "--mqtt");
  return c;
}

// Runs the runtime until SIGINT/SIGTERM or `duration_s`, then calls `stop(done)` and waits.
void RunUntilSignal(net::Runtime& runtime, double duration_s,
                    const std::function<void(std::function<void()>)>& stop) {
  std::promise<void> stopped;
  auto once = std::make_shared<std::once_flag>();
  auto trigger = [&, once] { std::call_once(*once, [&] { stop([&] { stopped.set_value(); }); }); };
  asio::signal_set signals(runtime.context(0), SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) trigger();
  });
  asio::steady_timer deadline(runtime.context(0));
  if (duration_s > 0) {
    deadline.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(duration_s)));
    deadline.async_wait([&](boost::system::error_code ec) {
      if (!ec) trigger();
    });
  }
  runtime.Start();
  auto f = stopped.get_future();
  f.wait();
  asio::post(runtime.context(0), [&] {
    signals.cancel();
    deadline.cancel();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  runtime.Stop();
  runtime.Join();
}

int RunFleet(const SimulateOptions& o) {
  if (auto physics = sim::PhysicsWithRegimes(o.fleet); !physics.ok()) {
    std::cerr << "aiot simulate: --regime: " << physics.status().message() << "\n";
    return kExitUsage;
  }
  if (!sim::ValidatePhysics(o.fleet.physics).ok() || o.fleet.rate <= 0 || o.fleet.qos > 1) {
    std::cerr << "invalid simulation settings (rate > 0, qos 0 or 1, physics)\n";
    return kExitUsage;
  }
  net::Runtime runtime(o.threads);
  sim::Fleet fleet(runtime.contexts(), o.fleet, ClientTemplate(o));
  fleet.Start();
  const auto t0 = std::chrono::steady_clock::now();
  RunUntilSignal(runtime, o.duration_s, [&](std::function<void()> done) {
    auto s = fleet.stats();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << fmt::format(
                     "{{\"devices\":{},\"clients\":{},\"connected\":{},\"readings\":{},"
                     "\"published\":{},\"completed\":{},\"failed\":{},\"seconds\":{:.1f},"
                     "\"rate\":{:.1f},\"activated\":{},\"refused\":{}}}",
                     s.devices, s.clients, s.connected_clients, s.readings, s.published,
                     s.publish_completed, s.publish_failed, secs, s.published / secs, s.activated,
                     s.refused)
              << std::endl;
    fleet.Stop(std::move(done));
  });
  return kExitOk;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The columns of a replayed CSV: device id and time (-1: absent) and one per field, in order.
struct ReplayColumns {
  int id = -1;
  int time = -1;
  std::vector<int> fields;
};

// Finds the columns by name, any case; an error names the field without a column.
Result<ReplayColumns> FindReplayColumns(const std::vector<std::string>& header,
                                        const std::vector<std::string>& fields) {
  auto col = [&](std::initializer_list<const char*> names) {
    for (size_t i = 0; i < header.size(); ++i) {
      for (const char* n : names) {
        if (Lower(header[i]) == n) return static_cast<int>(i);
      }
    }
    return -1;
  };
  ReplayColumns c;
  c.id = col({"deviceid", "device_id", "device"});
  c.time = col({"timestamp", "time"});
  for (const auto& f : fields) {
    c.fields.push_back(col({Lower(f).c_str()}));
    if (c.fields.back() < 0) {
      return Status(errc::invalid_argument,
                    fmt::format("needs a column for each of fields.features ({}); `{}` is missing",
                                fmt::join(fields, ", "), f));
    }
  }
  return c;
}

// One row as a telemetry message: a numeric device id n becomes the fleet's n-th device id; a row
// without a time is stamped now; an empty or non-numeric cell is an absent reading, not a zero.
std::string ReplayPayload(const std::vector<std::string>& row, const ReplayColumns& c,
                          const std::vector<std::string>& fields, const std::string& id_prefix) {
  std::string id = c.id >= 0 ? row[c.id] : "replay";
  if (!id.empty() && id.size() < 9 && std::all_of(id.begin(), id.end(), ::isdigit) &&
      std::stoul(id) > 0) {
    id = sim::DeviceId(id_prefix, static_cast<uint32_t>(std::stoul(id)) - 1);
  }
  int64_t ts = SystemClock::Instance().NowNanos();
  // Timestamps without a zone (the reference data: "2016-01-03 06:20:39") are UTC.
  if (c.time >= 0) ParseTimestamp(row[c.time], &ts, MissingZone::kUtc);
  std::string payload =
      fmt::format("{{\"deviceID\":\"{}\",\"timeStamp\":\"{}\"", id, FormatTimestamp(ts));
  for (size_t i = 0; i < fields.size(); ++i) {
    double v = 0;
    if (ml::ParseNumber(row[c.fields[i]], &v)) payload += fmt::format(",\"{}\":{}", fields[i], v);
  }
  payload += "}";
  return payload;
}

// Publishes the rows of o.replay: the columns named like `fields` (the field schema's, any case).
int RunReplay(const SimulateOptions& o, const std::vector<std::string>& fields) {
  auto table = ml::ReadCsvFile(o.replay);
  if (!table.ok()) {
    std::cerr << o.replay << ": " << table.status().message() << "\n";
    return kExitFailure;
  }
  auto columns = FindReplayColumns(table->header, fields);
  if (!columns.ok()) {
    std::cerr << o.replay << ": " << columns.status().message() << "\n";
    return kExitUsage;
  }
  if (o.fleet.rate <= 0) {
    std::cerr << "--rate must be > 0\n";
    return kExitUsage;
  }
  net::Runtime runtime(1);
  auto cc = ClientTemplate(o);
  cc.client_id = o.fleet.id_prefix + "replay";
  auto client = mqtt::Client::Create(runtime.context(0), cc);
  client->Start();
  const auto qos = o.fleet.qos >= 1 ? mqtt::QoS::kAtLeastOnce : mqtt::QoS::kAtMostOnce;
  asio::steady_timer timer(client->executor());
  size_t next = 0;
  const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(1.0 / o.fleet.rate));
  auto when = std::chrono::steady_clock::now();
  std::function<void()> tick;
  bool stopping = false;
  std::atomic<uint64_t> published{0}, settled{0};
  std::promise<void> finished;
  auto finish = [&] {  // on the client's strand
    if (stopping) return;
    stopping = true;
    timer.cancel();
    finished.set_value();
  };
  tick = [&] {
    if (stopping) return;
    if (next >= table->rows.size()) {
      finish();
      return;
    }
    const auto& row = table->rows[next++];
    std::string payload = ReplayPayload(row, *columns, fields, o.fleet.id_prefix);
    if (client
            ->Publish(o.fleet.topic, mqtt::SharedBytes(std::move(payload)), {.qos = qos},
                      [&](std::error_code) { ++settled; })
            .ok()) {
      ++published;
    }
    when += period;
    timer.expires_at(when);
    timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) tick();
    });
  };
  asio::signal_set signals(runtime.context(0), SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) asio::post(client->executor(), finish);
  });
  asio::post(client->executor(), [&] { tick(); });
  runtime.Start();
  finished.get_future().wait();
  // Let the broker acknowledge what was sent (QoS 1) before disconnecting.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (settled.load() < published.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::promise<void> stopped;
  asio::post(runtime.context(0), [&] { signals.cancel(); });
  client->Stop([&] { stopped.set_value(); });
  stopped.get_future().wait_for(std::chrono::seconds(10));
  runtime.Stop();
  runtime.Join();
  std::cout << fmt::format("{{\"replayed\":{},\"rows\":{}}}", published.load(), table->rows.size())
            << std::endl;
  return kExitOk;
}

void RegisterSimulate(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand(
      "simulate",
      "Simulate a fleet of machines: a labeled history CSV, or live telemetry over MQTT");
  auto o = std::make_shared<SimulateOptions>();
  auto& f = o->fleet;
  cmd->add_option("--devices", f.devices, "Number of devices")->capture_default_str();
  cmd->add_option("--rate", f.rate, "Messages per second per device (replay: in total)")
      ->capture_default_str();
  cmd->add_option("--faulty", f.faulty_fraction, "Fraction of devices that develop a fault")
      ->capture_default_str();
  cmd->add_option("--time-scale", f.time_scale, "Simulated seconds per wall-clock second")
      ->capture_default_str();
  cmd->add_option("--mqtt", f.mqtt_url, "Broker URL (tcp://host:port)")->capture_default_str();
  cmd->add_option("--username", o->username, "MQTT user name");
  cmd->add_option("--password", o->password, "MQTT password");
  cmd->add_option("--qos", f.qos, "Telemetry QoS (0 or 1)")->capture_default_str();
  cmd->add_option("--topic", f.topic, "Telemetry topic")->capture_default_str();
  cmd->add_option("--id-prefix", f.id_prefix, "Device id prefix")->capture_default_str();
  cmd->add_option("--devices-per-connection", f.devices_per_connection,
                  "Multiplex this many devices over one MQTT connection (1 = a client per device)")
      ->capture_default_str();
  cmd->add_option("--seed", f.seed, "Random seed (same seed, same fleet)")->capture_default_str();
  cmd->add_option("--registry", f.registry_url,
                  "Device registry (http://host:port): each device activates there before "
                  "publishing");
  cmd->add_option("--provision-token", f.provision_token,
                  "Operator token the devices provision themselves with (with --registry)");
  cmd->add_option("--state-dir", f.state_dir,
                  "Per-device state (registry token, models) under DIR/<id>/");
  cmd->add_option("--duration", o->duration_s, "Stop after this many seconds (0 = until SIGINT)");
  cmd->add_option("--threads", o->threads, "io_context threads (0 = one per core)");
  cmd->add_option("--history", o->history_rows,
                  "Write a labeled historical data set of ROWS rows (CSV) and exit");
  cmd->add_option("--out", o->out, "Output file for --history (default stdout)");
  cmd->add_option("--maintenance-out", o->maintenance_out,
                  "With --history: also write the machines' maintenance records (CSV "
                  "device,kind,at,mode: each failure and repair), the input of aiot train --task "
                  "time_to_failure");
  cmd->add_option("--interval", o->interval_s,
                  "Simulated seconds between a device's readings in --history")
      ->capture_default_str();
  cmd->add_option("--ttf", o->ttf_s, "Nominal seconds from fault onset to failure");
  cmd->add_option("--sample-rate", f.physics.sample_rate_hz, "Accelerometer sample rate (Hz)")
      ->capture_default_str();
  cmd->add_option("--frame", f.physics.frame_size, "Samples per reading (DSP frame)")
      ->capture_default_str();
  cmd->add_option("--replay", o->replay, "Publish the rows of this CSV as telemetry");
  cmd->add_option("--regime", f.regime_changes,
                  "Change the fleet's operating regime at a simulated time (repeatable), e.g. "
                  "\"at=10m vibration_scale=1.6 ambient_c=35 load=0.7 sound_db=2\"");
  cmd->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      if (o->ttf_s > 0) o->fleet.physics.time_to_failure_s = o->ttf_s;
      if (o->history_rows > 0) return RunHistory(*o);
      if (!o->replay.empty()) return RunReplay(*o, ctx.Config().fields.features);
      return RunFleet(*o);
    };
  });
}

}  // namespace

AIOT_COMMAND(simulate, 40, RegisterSimulate);

}  // namespace aiot::cli
