// Training datastore ingest: rows/s through TrainingDatastore::Append (batched transactions, one
// prepared statement), against the sqlite3 command-line shell bulk-importing the same rows as CSV
// into the same schema (the peer). Both write to files on the same disk in WAL mode.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "base/log.h"
#include "datastore/datastore.h"
#include "tests/support/temp_dir.h"

namespace aiot::datastore {
namespace {

using test_support::TempDir;

constexpr int64_t kRowsPerIteration = 200'000;

std::vector<TelemetryRow> MakeRows(int64_t n) {
  std::vector<TelemetryRow> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto& r = rows[static_cast<size_t>(i)];
    r.ts = 1767225600'000'000'000 + i * 1'000'000;
    r.device = "fan-" + std::to_string(1000 + i % 100);
    // The fan's fields (DatastoreConfig's default): rotation, temperature, vibration, sound.
    r.values = {500 + static_cast<double>(i % 200), 35 + static_cast<double>(i % 10),
                100 + static_cast<double>(i % 100), 45 + static_cast<double>(i % 7)};
  }
  return rows;
}

void BM_DatastoreAppend(benchmark::State& state) {
  log::LogConfig lc;
  lc.level = "warn";
  log::Init(lc);
  const size_t batch = static_cast<size_t>(state.range(0));
  auto rows = MakeRows(kRowsPerIteration);
  TempDir dir;
  TrainingDatastore ds(dir.path(), DatastoreConfig{});
  if (!ds.Open().ok()) state.SkipWithError("open failed");
  for (auto _ : state) {
    for (size_t i = 0; i < rows.size(); i += batch) {
      size_t n = std::min(batch, rows.size() - i);
      if (!ds.Append(std::span(rows).subspan(i, n)).ok()) state.SkipWithError("append failed");
    }
  }
  state.SetItemsProcessed(state.iterations() * kRowsPerIteration);
}
BENCHMARK(BM_DatastoreAppend)->Arg(1000)->Arg(5000)->Unit(benchmark::kMillisecond)->UseRealTime();

// Peer: `sqlite3 db ".import --csv rows.csv telemetry"` (the shell wraps the import in one
// transaction with a prepared INSERT). Includes process start-up (a few ms).
void BM_Sqlite3ShellImport(benchmark::State& state) {
  if (std::system("command -v sqlite3 >/dev/null 2>&1") != 0) {
    state.SkipWithError("sqlite3 shell not installed");
    return;
  }
  TempDir dir;
  auto rows = MakeRows(kRowsPerIteration);
  std::string csv = dir.path() + "/rows.csv";
  {
    std::ofstream out(csv);
    for (const auto& r : rows) {
      out << r.ts << ',' << r.device;
      for (double v : r.values) out << ',' << v;
      out << '\n';
    }
  }
  std::string db = dir.path() + "/peer.db";
  std::string schema =
      "sqlite3 " + db +
      " 'PRAGMA journal_mode=WAL; CREATE TABLE telemetry (ts INTEGER NOT NULL, device TEXT NOT "
      "NULL, rotation REAL, temperature REAL, vibration REAL, sound REAL); CREATE INDEX "
      "telemetry_ts ON telemetry(ts);' >/dev/null";
  if (std::system(schema.c_str()) != 0) state.SkipWithError("schema failed");
  std::string import =
      "sqlite3 " + db + " -cmd 'PRAGMA synchronous=NORMAL' '.import --csv " + csv + " telemetry'";
  for (auto _ : state) {
    if (std::system(import.c_str()) != 0) state.SkipWithError("import failed");
  }
  state.SetItemsProcessed(state.iterations() * kRowsPerIteration);
}
BENCHMARK(BM_Sqlite3ShellImport)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace aiot::datastore
