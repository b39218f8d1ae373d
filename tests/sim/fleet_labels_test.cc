// Labels without a human: a simulated fleet on a fast time scale reports its machines' failures
// and repairs as maintenance records on the maintenance topic (mosquitto), the datastore's ingest
// service files them, and the export labels the readings before each failure.
#include <gtest/gtest.h>

#include <future>
#include <sstream>

#include "datastore/datastore.h"
#include "datastore/ingest_service.h"
#include "mqtt/client/client.h"
#include "net/runtime.h"
#include "sim/fleet.h"
#include "tests/sim/sim_test_util.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::sim {
namespace {

using aiot::test_support::WaitFor;

size_t CountKind(datastore::TrainingDatastore& ds, datastore::MaintenanceKind kind) {
  datastore::MaintenanceQuery q;
  q.kind = kind;
  auto r = ds.Maintenance(q);
  return r.ok() ? r->size() : 0;
}

TEST(FleetLabelsTest, FastFleetReportsFailuresAndRepairsThatLabelTheExport) {
  if (!testing::HaveProgram("/usr/sbin/mosquitto"))
    AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  test_support::TempDir dir;
  testing::Mosquitto broker(dir.path());
  net::Runtime runtime(2);

  datastore::DatastoreConfig dc;
  dc.flush_interval_ms = 50;
  dc.label_window_s = 2;  // wall-clock seconds: 1200 simulated seconds at this time scale
  datastore::TrainingDatastore store(dir.path() + "/data", dc);
  ASSERT_TRUE(store.Open().ok());
  mqtt::MqttClientConfig ic;
  ic.url = broker.url();
  ic.client_id = "ingest";
  auto ingest_client = mqtt::Client::Create(runtime.context(0), ic);
  datastore::IngestService ingest(dc, store, ingest_client);
  ASSERT_TRUE(ingest.Start().ok());

  // Every machine develops a fault within a simulated minute and fails ~10 simulated minutes
  // later (1 s wall); repairs take 5 simulated minutes; repaired machines fail again.
  FleetConfig fc;
  fc.devices = 4;
  fc.rate = 10;
  fc.time_scale = 600;
  fc.faulty_fraction = 1.0;
  fc.seed = 7;
  fc.physics.time_to_failure_s = 600;
  fc.physics.fault_onset_max_s = 60;
  fc.physics.repair_time_s = 300;
  fc.physics.recurring_faults = true;
  fc.physics.frame_size = 512;
  mqtt::MqttClientConfig cc;
  cc.url = broker.url();
  Fleet fleet(runtime.contexts(), fc, cc);
  runtime.Start();
  ingest_client->Start();
  ASSERT_TRUE(WaitFor([&] { return ingest_client->stats().connects >= 1; }));
  fleet.Start();

  using K = datastore::MaintenanceKind;
  EXPECT_TRUE(WaitFor(
      [&] { return CountKind(store, K::kFailure) >= 2 && CountKind(store, K::kRepair) >= 2; },
      std::chrono::seconds(60)))
      << CountKind(store, K::kFailure) << " failures, " << CountKind(store, K::kRepair)
      << " repairs";
  std::promise<void> stopped;
  fleet.Stop([&] { stopped.set_value(); });
  ASSERT_EQ(stopped.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  ingest.Flush();

  auto records = store.Maintenance();
  ASSERT_TRUE(records.ok());
  for (const auto& r : *records) {
    SCOPED_TRACE(r.device + " " + datastore::MaintenanceKindName(r.kind));
    EXPECT_EQ(r.note, "simulated");
    EXPECT_EQ(r.source, "mqtt:fan/maintenance");
    EXPECT_TRUE(r.mode == "bearing" || r.mode == "imbalance" || r.mode == "blade") << r.mode;
  }
  // Every repair follows a failure of the same device.
  for (const auto& r : *records) {
    if (r.kind != K::kRepair) continue;
    bool failed_before = false;
    for (const auto& f : *records) {
      failed_before |= f.kind == K::kFailure && f.device == r.device && f.at <= r.at;
    }
    EXPECT_TRUE(failed_before) << r.device;
  }
  uint64_t reported = 0;
  for (size_t i = 0; i < fleet.size(); ++i)
    reported += fleet.agent(i).snapshot().maintenance_reported;
  EXPECT_GE(reported, records->size());

  std::ostringstream csv;
  auto rows = store.ExportCsv({}, csv);
  ASSERT_TRUE(rows.ok());
  size_t positive = 0, negative = 0;
  std::istringstream lines(csv.str());
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) (line.back() == '1' ? positive : negative)++;
  EXPECT_GT(positive, 0u) << csv.str().substr(0, 2000);
  EXPECT_GT(negative, 0u);
  ingest.Stop();
  std::promise<void> client_stopped;
  ingest_client->Stop([&] { client_stopped.set_value(); });
  client_stopped.get_future().wait_for(std::chrono::seconds(10));
  runtime.Stop();
  runtime.Join();
}

}  // namespace
}  // namespace aiot::sim
