// librdkafka's mock cluster as a process, for the dashboard's browser test of the bridge panel
// (dashboard_pipelines.test.mjs): brokers with real TCP listeners on loopback and the bridge's
// topics. Prints "bootstrap <host:port,...>" once serving, then reads commands from stdin, one a
// line, answering "ok <command>" or "error <command>: <why>":
//   down   every broker down (connections closed, new ones refused)
//   up     every broker up again
// Exits on EOF (the test ended or died), SIGTERM or SIGINT.
//
//   kafka_mock_cluster [--brokers 1]
#include <cstdio>
#include <iostream>
#include <string>

#include "kafka/mock_cluster.h"

using namespace aiot;

int main(int argc, char** argv) {
  int brokers = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--brokers") brokers = std::stoi(argv[i + 1]);
  }
  auto cluster = kafka::testing::MockCluster::Start(brokers);
  if (!cluster.ok()) {
    std::fprintf(stderr, "mock cluster: %s\n", cluster.status().message().c_str());
    return 1;
  }
  for (const char* topic : {"aiot.telemetry", "aiot.control", "aiot.deadletter"}) {
    if (auto s = (*cluster)->CreateTopic(topic, 2, brokers); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.message().c_str());
      return 1;
    }
  }
  std::printf("bootstrap %s\n", (*cluster)->bootstraps().c_str());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "down") {
      (*cluster)->SetAllBrokersDown();
    } else if (line == "up") {
      (*cluster)->SetAllBrokersUp();
    } else {
      std::printf("error %s: unknown command (down, up)\n", line.c_str());
      std::fflush(stdout);
      continue;
    }
    std::printf("ok %s\n", line.c_str());
    std::fflush(stdout);
  }
  return 0;
}
