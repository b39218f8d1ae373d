// Why the outage test (tests/kafka/bridge_test.cc) can print duplicates: librdkafka 2.0.2's mock
// cluster checks a producer's sequence numbers (and so drops a retried batch it already has) only
// for a transactional producer; an idempotent producer's retry of a batch the mock appended but
// whose response was lost is appended again. A real Kafka broker deduplicates both by producer id
// and sequence.
//
// The probe: one mock broker, one producer (idempotent, acks=all, as the bridge's; or with
// `txn`, transactional). A warm-up record, then the response to the next Produce request is
// delayed by 2 s (an injected NO_ERROR with an RTT: the request is handled, only its answer
// waits); 100 records are produced; once the mock's log holds them (its high watermark, asked by
// a second client) the broker goes down (its connections close: the response is lost) and comes
// back up; librdkafka retries the batch with the same sequence numbers. Printed: how many
// records the partition holds.
//
//   kafka_mock_dedup_probe [txn]
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

// Records in partition 0 of `topic`, read from the beginning to the end.
int CountRecords(const char* bootstraps, const char* topic) {
  char err[512];
  rd_kafka_conf_t* c = rd_kafka_conf_new();
  rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, err, sizeof err);
  rd_kafka_conf_set(c, "group.id", "probe", err, sizeof err);
  rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  int n = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    const bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) ++n;
    rd_kafka_message_destroy(m);
    if (eof) break;
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return n;
}

// The partition's high watermark as the mock cluster reports it (-1 when unknown).
int64_t HighWatermark(rd_kafka_t* rk, const char* topic) {
  int64_t lo = -1, hi = -1;
  if (rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 200) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return -1;
  }
  return hi;
}

}  // namespace

int main(int argc, char** argv) {
  const bool transactional = argc > 1 && std::strcmp(argv[1], "txn") == 0;
  constexpr int kRecords = 100;
  char err[512];
  rd_kafka_t* mrk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof err);
  rd_kafka_mock_cluster_t* mcluster = rd_kafka_mock_cluster_new(mrk, 1);
  const char* bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
  rd_kafka_mock_topic_create(mcluster, "probe", 1, 1);

  rd_kafka_conf_t* c = rd_kafka_conf_new();
  rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, err, sizeof err);
  rd_kafka_conf_set(c, "enable.idempotence", "true", err, sizeof err);
  rd_kafka_conf_set(c, "acks", "all", err, sizeof err);
  rd_kafka_conf_set(c, "linger.ms", "20", err, sizeof err);
  rd_kafka_conf_set(c, "message.timeout.ms", "0", err, sizeof err);
  if (transactional) rd_kafka_conf_set(c, "transactional.id", "probe-1", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
  // A second client, only to read the mock's watermark while the producer's responses wait.
  rd_kafka_conf_t* wc = rd_kafka_conf_new();
  rd_kafka_conf_set(wc, "bootstrap.servers", bootstraps, err, sizeof err);
  rd_kafka_t* watcher = rd_kafka_new(RD_KAFKA_PRODUCER, wc, err, sizeof err);
  if (transactional) {
    if (rd_kafka_error_t* e = rd_kafka_init_transactions(rk, 10000)) {
      std::printf("init_transactions: %s\n", rd_kafka_error_string(e));
      return 2;
    }
    rd_kafka_begin_transaction(rk);
  }
  // rd_kafka_produceva: the RD_KAFKA_V_* macros are GNU statement expressions (-Wpedantic).
  auto produce = [&](const std::string& v) {
    rd_kafka_vu_t vu[3];
    std::memset(vu, 0, sizeof vu);
    vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vu[0].u.cstr = "probe";
    vu[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[1].u.i = RD_KAFKA_MSG_F_COPY;
    vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[2].u.mem.ptr = const_cast<char*>(v.data());
    vu[2].u.mem.size = v.size();
    if (rd_kafka_error_t* e = rd_kafka_produceva(rk, vu, 3)) {
      std::printf("produce: %s\n", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
  };
  produce("warm-up");  // metadata and producer id first
  rd_kafka_flush(rk, 10000);
  const int64_t before = HighWatermark(watcher, "probe");
  constexpr int16_t kProduceApiKey = 0;
  rd_kafka_mock_broker_push_request_error_rtts(mcluster, 1, kProduceApiKey, 1,
                                               RD_KAFKA_RESP_ERR_NO_ERROR, 2000);
  for (int i = 0; i < kRecords; ++i) produce("r" + std::to_string(i));
  // Wait (deadline 10 s) until the mock has appended the batch: its response is still delayed.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  int64_t hw = before;
  while (Clock::now() < deadline && (hw = HighWatermark(watcher, "probe")) <= before) {
  }
  rd_kafka_mock_broker_set_down(mcluster, 1);  // the connection closes: the response is lost
  rd_kafka_mock_broker_set_up(mcluster, 1);
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, 30000);
  if (transactional) {
    if (rd_kafka_error_t* e = rd_kafka_commit_transaction(rk, 30000)) {
      std::printf("commit_transaction: %s\n", rd_kafka_error_string(e));
    }
  }
  const int n = CountRecords(bootstraps, "probe");
  std::printf(
      "librdkafka %s, %s producer: %d records + 1 warm-up produced (flush: %s); appended before "
      "the outage: %lld; the partition holds %d: %d duplicates\n",
      rd_kafka_version_str(), transactional ? "transactional" : "idempotent", kRecords,
      rd_kafka_err2name(flushed), static_cast<long long>(hw - before), n, n - kRecords - 1);
  rd_kafka_destroy(watcher);
  rd_kafka_destroy(rk);
  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(mrk);
  return 0;
}
