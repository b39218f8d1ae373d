// `aiot pipeline step extract|validate|drift`: the pipeline's data steps (src/pipeline/README.md).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "base/errc.h"
#include "base/file.h"
#include "base/json.h"
#include "base/sha256.h"
#include "cli/pipeline_step_io.h"
#include "cli/pipeline_ttf_io.h"
#include "datastore/datastore.h"
#include "datastore/maintenance_json.h"
#include "ml/data/csv.h"
#include "ml/drift/drift.h"
#include "ml/train/recipe.h"
#include "pipeline/dag.h"
#include "registry/api_client.h"

namespace aiot::cli::steps {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// extract

struct ExtractArgs {
  StepArgs step;
  std::string window = "7d", reference_window = "28d", devices, fields, data_dir, source = "sqlite";
  // The windows end this long before --to: a reading's label is final only once the labelling
  // horizon after it (datastore.label_window_s) has passed; a younger reading of a machine that
  // is about to fail still reads healthy. "0s" = end at --to.
  std::string label_delay = "0s";
  int64_t to = 0;     // unix seconds; 0 = now
  int64_t since = 0;  // unix seconds; the current window starts no earlier (0 = to - window)
  registry::ApiEndpoint api;
};

// One window of labelled rows as CSV text: from the datastore's SQLite file or its HTTP API.
struct Window {
  int64_t from_ns = 0, to_ns = 0;
  std::string csv;
  int64_t rows = 0;
};

Result<int64_t> FromSqlite(const ExtractArgs& a, datastore::TrainingDatastore& store, Window& w) {
  datastore::ExportRequest req;
  req.from = w.from_ns;
  req.to = w.to_ns;
  req.devices = ml::SplitList(a.devices);
  std::ostringstream out;
  auto rows = store.ExportCsv(req, out);
  if (rows.ok()) w.csv = out.str();
  return rows;
}

Result<int64_t> FromApi(const ExtractArgs& a, Window& w) {
  using net::HttpClient;
  std::string target = "/api/v1/data/export?from=" + std::to_string(w.from_ns / 1'000'000'000) +
                       "&to=" + std::to_string(w.to_ns / 1'000'000'000);
  if (!a.devices.empty()) target += "&devices=" + HttpClient::Escape(a.devices);
  auto r = a.api.Client()->Get(target);
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return Status(errc::unavailable,
                  "data API: HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 300));
  }
  w.csv = std::move(r->body);
  int64_t rows = 0;
  for (char c : w.csv) rows += c == '\n';
  return rows > 0 ? rows - 1 : 0;
}

// The datastore configuration with the requested fields (a subset of the configured ones).
Result<datastore::DatastoreConfig> StoreConfig(const ExtractArgs& a, Context& ctx) {
  datastore::DatastoreConfig dc = ctx.Config().datastore;
  const auto fields = ml::SplitList(a.fields);
  if (fields.empty()) return dc;
  for (const auto& f : fields) {
    if (std::find(dc.fields.begin(), dc.fields.end(), f) == dc.fields.end()) {
      return Status(errc::invalid_argument, "--fields: `" + f + "` is not a configured field");
    }
  }
  if (a.source == "api") {
    return Status(errc::invalid_argument, "--fields needs --source sqlite (the API exports all)");
  }
  dc.fields = fields;
  return dc;
}

// The maintenance records of the current window (`maintenance.json`, the datastore's JSON
// `{"records":[...]}` that ml::ParseMaintenanceRecords reads): a time-to-failure model's targets
// come from them. At most kMaxMaintenanceRecords (the API's limit); the count says when cut.
constexpr int64_t kMaxMaintenanceRecords = 10000;

Result<Json> MaintenanceFromSqlite(const ExtractArgs& a, datastore::TrainingDatastore& store,
                                   const Window& w) {
  datastore::MaintenanceQuery q;
  q.from = w.from_ns;
  q.to = w.to_ns;
  q.limit = kMaxMaintenanceRecords;
  auto records = store.Maintenance(q);
  if (!records.ok()) return records.status();
  const auto devices = ml::SplitList(a.devices);
  Json out = {{"records", Json::array()}};
  for (const auto& r : *records) {
    if (devices.empty() || std::find(devices.begin(), devices.end(), r.device) != devices.end()) {
      out["records"].push_back(datastore::ToJson(r));
    }
  }
  return out;
}

Result<Json> MaintenanceFromApi(const ExtractArgs& a, const Window& w) {
  const std::string target =
      "/api/v1/data/maintenance?from=" + std::to_string(w.from_ns / 1'000'000'000) +
      "&to=" + std::to_string(w.to_ns / 1'000'000'000) +
      "&limit=" + std::to_string(kMaxMaintenanceRecords);
  auto r = a.api.Client()->Get(target);
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return Status(errc::unavailable, "maintenance API: HTTP " + std::to_string(r->status) + " " +
                                         r->body.substr(0, 300));
  }
  Json body = Json::parse(r->body, nullptr, false);
  const Json* records = body.is_object() ? json::Find(body, "records") : nullptr;
  if (records == nullptr || !records->is_array()) {
    return Status(errc::parse_error, "maintenance API: the reply has no `records` array");
  }
  const auto devices = ml::SplitList(a.devices);
  Json out = {{"records", Json::array()}};
  for (const auto& rec : *records) {
    const std::string dev = rec.is_object() ? json::StringOr(rec, "device", "") : "";
    if (devices.empty() || std::find(devices.begin(), devices.end(), dev) != devices.end()) {
      out["records"].push_back(rec);
    }
  }
  return out;
}

Json WindowJson(const Window& w, const std::string& sha) {
  return {{"from", TimeText(w.from_ns)},
          {"to", TimeText(w.to_ns)},
          {"from_ns", w.from_ns},
          {"to_ns", w.to_ns},
          {"rows", w.rows},
          {"sha256", sha}};
}

int RunExtract(ExtractArgs& a, Context& ctx) {
  constexpr const char* kStep = "extract";
  auto window = ParseDuration(a.window);
  auto reference = ParseDuration(a.reference_window);
  if (!window.ok()) return Usage(kStep, "--window: " + window.status().message());
  if (!reference.ok()) return Usage(kStep, "--reference-window: " + reference.status().message());
  Result<int64_t> label_delay = int64_t{0};
  if (a.label_delay != "0s" && a.label_delay != "0") label_delay = ParseDuration(a.label_delay);
  if (!label_delay.ok()) {
    return Usage(kStep, "--label-delay: " + label_delay.status().message() + " or 0s");
  }
  if (a.since < 0) return Usage(kStep, "--since: unix seconds, or 0 for none");
  if (a.source != "sqlite" && a.source != "api") return Usage(kStep, "--source: sqlite or api");
  auto dc = StoreConfig(a, ctx);
  if (!dc.ok()) return Usage(kStep, dc.status().message());
  if (Status s = EnsureDir(a.step.run_dir); !s.ok()) return Fail(kStep, s.message());
  const int64_t to = (a.to > 0 ? a.to * 1'000'000'000
                               : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count()) -
                     *label_delay;
  // --since (a drift run: the drift event) anchors the current window at the new regime; the
  // reference window is the one before it.
  const int64_t from = std::max(to - *window, std::min(to, a.since * 1'000'000'000));
  Window data{from, to, "", 0}, ref{from - *reference, from, "", 0};
  std::string source;
  Result<Json> maintenance = Json();
  if (a.source == "sqlite") {
    const std::string dir = a.data_dir.empty() ? ctx.Config().registry.data_dir : a.data_dir;
    source = (std::filesystem::path(dir) / "datastore.db").string();
    if (!std::filesystem::exists(source)) return Fail(kStep, "no training datastore at " + source);
    datastore::TrainingDatastore store(dir, *dc);
    if (Status s = store.Open(); !s.ok()) return Fail(kStep, s.message());
    for (Window* w : {&data, &ref}) {
      auto rows = FromSqlite(a, store, *w);
      if (!rows.ok()) return Fail(kStep, rows.status().message());
      w->rows = *rows;
    }
    maintenance = MaintenanceFromSqlite(a, store, data);
  } else {
    ctx.ResolveTokenFile(a.api);
    source = a.api.url + "/api/v1/data/export";
    for (Window* w : {&data, &ref}) {
      auto rows = FromApi(a, *w);
      if (!rows.ok()) return Fail(kStep, rows.status().message());
      w->rows = *rows;
    }
    maintenance = MaintenanceFromApi(a, data);
  }
  if (!maintenance.ok()) return Fail(kStep, maintenance.status().message());
  Json report = {{"source", source},
                 {"devices", ml::SplitList(a.devices)},
                 {"fields", dc->fields},
                 {"label", dc->label}};
  for (auto [w, file, key] : {std::tuple{&data, "data.csv", "window"},
                              std::tuple{&ref, "reference.csv", "reference_window"}}) {
    if (Status s = WriteFileAtomic(a.step.File(file), w->csv); !s.ok()) {
      return Fail(kStep, s.message());
    }
    report[key] = WindowJson(*w, Sha256Hex(w->csv));
  }
  const std::string records = maintenance->dump();
  if (Status s = WriteFileAtomic(a.step.File("maintenance.json"), records); !s.ok()) {
    return Fail(kStep, s.message());
  }
  const auto count = static_cast<int64_t>((*maintenance)["records"].size());
  report["maintenance"] = {{"records", count},
                           {"truncated", count >= kMaxMaintenanceRecords},
                           {"sha256", Sha256Hex(records)}};
  report["rows"] = data.rows;
  report["label_delay_s"] = *label_delay / 1'000'000'000;
  report["since"] = a.since;
  report["data_sha256"] = report["window"]["sha256"];
  if (Status s = WriteJson(a.step.File("extract.json"), report); !s.ok()) {
    return Fail(kStep, s.message());
  }
  std::cout << "extract: " << data.rows << " rows from " << TimeText(data.from_ns) << " to "
            << TimeText(data.to_ns) << ", " << ref.rows << " reference rows, " << count
            << " maintenance records\n";
  return pipeline::kStepOk;
}

void AddExtract(CLI::App& step_cmd, Context& ctx) {
  auto a = std::make_shared<ExtractArgs>();
  auto* cmd = AddStep(step_cmd, "extract",
                      "Labelled rows of a time window from the training datastore: data.csv, "
                      "reference.csv (the window before), maintenance.json (the window's "
                      "records), extract.json",
                      a->step);
  cmd->add_option("--window", a->window, "Current window, ending at --to (7d, 12h, ...)")
      ->capture_default_str();
  cmd->add_option("--reference-window", a->reference_window,
                  "Reference window, ending where the current one starts")
      ->capture_default_str();
  cmd->add_option("--devices", a->devices, "Comma-separated device ids (default: all)");
  cmd->add_option("--fields", a->fields, "Comma-separated fields (default: the configured ones)");
  cmd->add_option("--to", a->to, "End of the window, unix seconds (default: now)");
  cmd->add_option("--since", a->since,
                  "Start the window no earlier than this, unix seconds (a drift run: the drift "
                  "event; 0 = --to minus --window)")
      ->capture_default_str();
  cmd->add_option("--label-delay", a->label_delay,
                  "End the windows this long before --to, so that every row's label is final "
                  "(datastore.label_window_s; 0s = at --to)")
      ->capture_default_str();
  cmd->add_option("--source", a->source, "sqlite (the datastore file) or api (the data API)")
      ->capture_default_str();
  cmd->add_option("--data-dir", a->data_dir,
                  "Directory of datastore.db (default: the configured registry.data_dir)");
  a->api.AddFlags(cmd);
  cmd->callback([&ctx, a] { ctx.run = [&ctx, a] { return RunExtract(*a, ctx); }; });
}

// ---------------------------------------------------------------------------------------------
// validate

struct ValidateArgs {
  StepArgs step;
  int64_t min_rows = 1000;
  double max_missing_fraction = 0.01, min_class_fraction = 0.05;
  // train's time-ordered split: the newest fraction of the complete rows is held out.
  double holdout_fraction = 0.2;
  // train's recipe: with `task: time_to_failure` the target (hours to the next failure, from
  // maintenance.json) is checked instead of the classes.
  std::string recipe = "default";
};

// Per-column counts of empty and non-numeric cells, per-feature ranges, per-class counts.
struct Quality {
  size_t rows = 0, rows_with_missing = 0;
  std::map<std::string, size_t> missing, invalid;
  std::map<std::string, std::tuple<double, double, double>> ranges;  // min, max, mean
  std::map<std::string, size_t> classes;
  // train's time-ordered split of the complete rows: classes before `holdout_from` (what train
  // learns from) and from it on (what evaluate scores).
  std::string holdout_from;
  std::map<std::string, size_t> train_classes, holdout_classes;
};

Quality Measure(const ml::CsvTable& t, const std::vector<std::string>& features,
                const std::string& label, double holdout_fraction) {
  Quality q;
  const int time_col = t.Column(kTimeColumn);
  std::vector<std::pair<std::string, std::string>> complete;  // time, class
  q.rows = t.rows.size();
  std::vector<int> cols;
  for (const auto& f : features) cols.push_back(t.Column(f));
  const int label_col = t.Column(label);
  std::vector<double> sum(features.size(), 0), lo(features.size(), INFINITY),
      hi(features.size(), -INFINITY);
  std::vector<size_t> count(features.size(), 0);
  for (const auto& row : t.rows) {
    bool incomplete = false;
    for (size_t j = 0; j < cols.size(); ++j) {
      const std::string& cell = row[cols[j]];
      double v;
      if (cell.empty()) {
        ++q.missing[features[j]];
        incomplete = true;
      } else if (!ml::ParseNumber(cell, &v)) {
        ++q.invalid[features[j]];
      } else {
        sum[j] += v, lo[j] = std::min(lo[j], v), hi[j] = std::max(hi[j], v), ++count[j];
      }
    }
    if (label_col < 0) {
      // no label (a time-to-failure run does not need one)
    } else if (row[label_col].empty()) {
      ++q.missing[label];
      incomplete = true;
    } else {
      ++q.classes[row[label_col]];
    }
    q.rows_with_missing += incomplete;
    if (!incomplete && time_col >= 0) {
      complete.emplace_back(row[time_col], label_col < 0 ? "" : row[label_col]);
    }
  }
  // The split as train makes it (the export is by time).
  const size_t holdout =
      static_cast<size_t>(std::llround(holdout_fraction * static_cast<double>(complete.size())));
  if (holdout >= 1 && holdout < complete.size()) {
    q.holdout_from = complete[complete.size() - holdout].first;
    for (const auto& [time, cls] : complete) {
      ++(time < q.holdout_from ? q.train_classes : q.holdout_classes)[cls];
    }
  }
  for (size_t j = 0; j < features.size(); ++j) {
    if (count[j] > 0) {
      q.ranges[features[j]] = std::make_tuple(lo[j], hi[j], sum[j] / static_cast<double>(count[j]));
    }
  }
  return q;
}

// The first check of rows and values that fails, or "".
std::string FirstValueFailure(const ValidateArgs& a, const Quality& q) {
  std::ostringstream why;
  if (static_cast<int64_t>(q.rows) < a.min_rows) {
    why << q.rows << " rows, fewer than --min-rows " << a.min_rows;
    return why.str();
  }
  if (!q.invalid.empty()) {
    why << "column " << q.invalid.begin()->first << " has " << q.invalid.begin()->second
        << " non-numeric values";
    return why.str();
  }
  const double missing = static_cast<double>(q.rows_with_missing) / static_cast<double>(q.rows);
  if (missing > a.max_missing_fraction) {
    why << q.rows_with_missing << " of " << q.rows << " rows (" << missing
        << ") miss a value, more than --max-missing-fraction " << a.max_missing_fraction;
    return why.str();
  }
  return "";
}

// The first check of the classes that fails, or "".
std::string FirstClassFailure(const ValidateArgs& a, const Quality& q, const std::string& label) {
  std::ostringstream why;
  if (q.classes.size() < 2) {
    why << "only one class in " << label << " ("
        << (q.classes.empty() ? "none" : q.classes.begin()->first) << "): nothing to learn";
    return why.str();
  }
  for (const auto& [cls, n] : q.classes) {
    const double f = static_cast<double>(n) / static_cast<double>(q.rows);
    if (f < a.min_class_fraction) {
      why << "class " << label << "=" << cls << " is " << n << " of " << q.rows << " rows (" << f
          << "), below --min-class-fraction " << a.min_class_fraction;
      return why.str();
    }
  }
  // Every class on both sides of train's time split: a class the training part lacks cannot be
  // learnt (train would fail on it), one the held-out part lacks cannot be scored.
  if (!q.holdout_from.empty()) {
    for (const auto& [cls, n] : q.classes) {
      (void)n;
      const bool learnt = q.train_classes.count(cls) > 0;
      if (learnt && q.holdout_classes.count(cls)) continue;
      why << "class " << label << "=" << cls << " has no rows " << (learnt ? "in" : "before")
          << " the held-out newest " << a.holdout_fraction << " of the window (from "
          << q.holdout_from << "): a longer --window holds more";
      return why.str();
    }
  }
  return "";
}

// A time-to-failure run's target: what train will learn from (LoadTtfRows, the recipe's horizon).
struct TtfQuality {
  ml::TtfStats stats;
  double horizon_h = 0;
  size_t kept = 0;           // readings with a known time to failure (exact + capped)
  size_t ahead = 0;          // of them, a failure ahead within the horizon (the target < horizon)
  size_t devices = 0;        // devices with kept readings (train holds out whole devices)
  size_t devices_ahead = 0;  // devices with readings that have a failure ahead
  double min_h = 0, max_h = 0, mean_h = 0;
};

Result<TtfQuality> MeasureTtf(const ValidateArgs& a, const std::string& label, double horizon_h) {
  TtfRowsRequest req;
  req.data_csv = a.step.File("data.csv");
  req.maintenance_json = a.step.File("maintenance.json");
  req.label_column = label;
  req.horizon_h = horizon_h;
  auto rows = LoadTtfRows(req);
  if (!rows.ok()) return rows.status();
  TtfQuality t;
  t.stats = rows->stats;
  t.horizon_h = horizon_h;
  t.kept = rows->data.rows;
  std::set<std::string> devices, devices_ahead;
  double sum = 0;
  for (size_t i = 0; i < rows->data.rows; ++i) {
    const double h = rows->data.target[i];
    devices.insert(rows->devices[i]);
    if (horizon_h <= 0 || h < horizon_h) {
      ++t.ahead;
      devices_ahead.insert(rows->devices[i]);
    }
    t.min_h = i == 0 ? h : std::min(t.min_h, h);
    t.max_h = i == 0 ? h : std::max(t.max_h, h);
    sum += h;
  }
  t.mean_h = t.kept ? sum / static_cast<double>(t.kept) : 0.0;
  t.devices = devices.size();
  t.devices_ahead = devices_ahead.size();
  return t;
}

// The first check of a time-to-failure target that fails, or "". The device counts mirror train
// (at least 3 devices with a known time to failure, whole devices held out).
std::string FirstTtfFailure(const ValidateArgs& a, const TtfQuality& t) {
  std::ostringstream why;
  if (t.stats.failures == 0) {
    why << "no failure in maintenance.json for the devices of data.csv: no time to failure to "
           "learn";
    return why.str();
  }
  if (t.devices < 3 || t.kept < 20) {
    why << t.kept << " readings with a known time to failure on " << t.devices
        << " devices: train holds out whole devices and needs at least 3 (and 20 readings); "
           "a longer --window, or a horizon_h that keeps healthy machines' readings";
    return why.str();
  }
  const double ahead = static_cast<double>(t.ahead) / static_cast<double>(t.kept);
  if (ahead < a.min_class_fraction) {
    why << "only " << t.ahead << " of " << t.kept << " readings with a known time to failure ("
        << ahead << ") have a failure ahead within the " << t.horizon_h
        << " h horizon, below --min-class-fraction " << a.min_class_fraction
        << ": the target is nearly constant";
    return why.str();
  }
  if (t.devices_ahead < 2) {
    why << "only " << t.devices_ahead << " device has readings with a failure ahead: with whole "
        << "devices held out, train or evaluate would see none";
    return why.str();
  }
  return "";
}

Json QualityJson(const Quality& q) {
  Json ranges = Json::object();
  for (const auto& [f, r] : q.ranges) {
    ranges[f] = {{"min", std::get<0>(r)}, {"max", std::get<1>(r)}, {"mean", std::get<2>(r)}};
  }
  return {{"rows", q.rows},
          {"rows_with_missing", q.rows_with_missing},
          {"missing_fraction",
           q.rows ? static_cast<double>(q.rows_with_missing) / static_cast<double>(q.rows) : 0.0},
          {"missing", q.missing},
          {"non_numeric", q.invalid},
          {"ranges", ranges},
          {"classes", q.classes},
          {"split",
           {{"holdout_from", q.holdout_from},
            {"train_classes", q.train_classes},
            {"holdout_classes", q.holdout_classes}}}};
}

int RunValidate(const ValidateArgs& a, Context& ctx) {
  constexpr const char* kStep = "validate";
  ml::TtfOptions ttf;
  auto job = ml::StepRecipeJob(a.recipe, &ttf);
  if (!job.ok()) return Usage(kStep, "--recipe: " + job.status().message());
  const bool time_to_failure = job->task == "time_to_failure";
  auto table = ml::ReadCsvFile(a.step.File("data.csv"));
  if (!table.ok()) return Fail(kStep, table.status().message());
  const std::string label = ctx.Config().fields.label;
  std::vector<std::string> features;
  for (const auto& c : table->header) {
    if (c != kDeviceColumn && c != kTimeColumn && c != label) features.push_back(c);
  }
  std::string why;
  if (!time_to_failure && table->Column(label) < 0) {
    why = "data.csv has no label column `" + label + "`";
  }
  if (features.empty()) why = "data.csv has no feature columns";
  Quality q;
  TtfQuality t;
  if (why.empty()) {
    q = Measure(*table, features, label, a.holdout_fraction);
    why = FirstValueFailure(a, q);
  }
  if (why.empty() && time_to_failure) {
    // The target, not the datastore's class label, is what a time-to-failure model learns.
    auto measured = MeasureTtf(a, label, ttf.horizon_h);
    if (!measured.ok()) {
      why = measured.status().message();
    } else {
      t = *measured;
      why = FirstTtfFailure(a, t);
    }
  } else if (why.empty()) {
    why = FirstClassFailure(a, q, label);
  }
  Json report = QualityJson(q);
  report["task"] = time_to_failure ? "time_to_failure" : "classification";
  if (time_to_failure) {
    report["target"] = {{"horizon_h", t.horizon_h},
                        {"readings", t.stats.rows},
                        {"failures", t.stats.failures},
                        {"exact", t.stats.exact},
                        {"capped", t.stats.capped},
                        {"censored", t.stats.censored},
                        {"kept", t.kept},
                        {"failure_ahead", t.ahead},
                        {"devices", t.devices},
                        {"devices_with_failure_ahead", t.devices_ahead},
                        {"hours", {{"min", t.min_h}, {"max", t.max_h}, {"mean", t.mean_h}}}};
  }
  report["schema"] = {{"features", features}, {"label", time_to_failure ? "" : label}};
  report["thresholds"] = {{"min_rows", a.min_rows},
                          {"max_missing_fraction", a.max_missing_fraction},
                          {"min_class_fraction", a.min_class_fraction},
                          {"holdout_fraction", a.holdout_fraction}};
  report["passed"] = why.empty();
  report["reason"] = why.empty() ? "ok" : why;
  if (Status s = WriteJson(a.step.File("validate.json"), report); !s.ok()) {
    return Fail(kStep, s.message());
  }
  if (!why.empty()) return Fail(kStep, "data rejected: " + why);
  if (time_to_failure) {
    std::cout << "validate: " << q.rows << " rows; time to failure: " << t.kept << " readings ("
              << t.ahead << " with a failure ahead) on " << t.devices << " devices, "
              << t.stats.failures << " failures: ok\n";
  } else {
    std::cout << "validate: " << q.rows << " rows, " << q.classes.size() << " classes, "
              << q.rows_with_missing << " with a missing value: ok\n";
  }
  return pipeline::kStepOk;
}

void AddValidate(CLI::App& step_cmd, Context& ctx) {
  auto a = std::make_shared<ValidateArgs>();
  auto* cmd = AddStep(step_cmd, "validate",
                      "Data quality of data.csv (schema, missing values, ranges, class balance; "
                      "for a time_to_failure recipe its target from maintenance.json instead): "
                      "validate.json; exit 1 with the reason when it fails",
                      a->step);
  cmd->add_option("--min-rows", a->min_rows, "Fewest rows to train on")->capture_default_str();
  cmd->add_option("--max-missing-fraction", a->max_missing_fraction,
                  "Largest fraction of rows with a missing value")
      ->capture_default_str();
  cmd->add_option("--min-class-fraction", a->min_class_fraction,
                  "Smallest fraction of rows of any class (time to failure: of readings with a "
                  "failure ahead within the horizon)")
      ->capture_default_str();
  cmd->add_option("--recipe", a->recipe,
                  "train's recipe: a time_to_failure recipe's target is checked instead of the "
                  "classes")
      ->capture_default_str();
  cmd->add_option("--holdout-fraction", a->holdout_fraction,
                  "train's held-out newest fraction: every class must be on both sides of it")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->callback([&ctx, a] { ctx.run = [&ctx, a] { return RunValidate(*a, ctx); }; });
}

// ---------------------------------------------------------------------------------------------
// drift

struct DriftStepArgs {
  StepArgs step;
  double psi_threshold = 0.2, ks_alpha = 0.05;
  std::string force = "false";
};

int RunDriftStep(const DriftStepArgs& a, Context& ctx) {
  constexpr const char* kStep = "drift";
  if (a.force != "true" && a.force != "false") return Usage(kStep, "--force: true or false");
  if (!(a.psi_threshold > 0) || !(a.ks_alpha > 0 && a.ks_alpha < 1)) {
    return Usage(kStep, "--psi-threshold must be > 0 and --ks-alpha in (0, 1)");
  }
  // Every feature column of data.csv; the label is read along but not compared.
  ml::DatasetSchema schema;
  schema.label = ctx.Config().fields.label;
  auto current = LoadRows(a.step.File("data.csv"), schema);
  if (current.ok()) schema.features = current->feature_names;
  auto reference = LoadRows(a.step.File("reference.csv"), schema);
  if (!current.ok()) return Fail(kStep, current.status().message());
  if (!reference.ok()) return Fail(kStep, reference.status().message());
  Json report = {{"thresholds", {{"psi", a.psi_threshold}, {"ks_alpha", a.ks_alpha}}},
                 {"rows", current->rows},
                 {"reference_rows", reference->rows},
                 {"forced", a.force == "true"}};
  bool drift = true;
  std::string why;
  if (reference->rows == 0 || current->rows == 0) {
    why = reference->rows == 0 ? "no reference rows: nothing to compare with, train"
                               : "no current rows";
    drift = reference->rows == 0;
  } else {
    ml::DriftConfig cfg;
    cfg.min_samples = 1;
    cfg.ks_alpha = a.ks_alpha;
    cfg.psi_significant = a.psi_threshold;
    cfg.psi_moderate = std::min(cfg.psi_moderate, a.psi_threshold);
    const ml::DriftReport r =
        ml::CompareToReference(ml::ProfileOf(*reference), current->x.data(), current->rows, cfg);
    report["report"] = Json::parse(r.ToJson(), nullptr, false);
    drift = r.drift;
    std::ostringstream w;
    const ml::FeatureDrift* worst = nullptr;
    for (const auto& f : r.features) {
      if (worst == nullptr || f.psi > worst->psi) worst = &f;
    }
    w << (drift ? "drift" : "no drift") << ": max PSI " << (worst ? worst->psi : 0) << " ("
      << (worst ? worst->name : "-") << ") vs threshold " << a.psi_threshold;
    for (const auto& f : r.features) {
      if (f.ks_drift) w << "; KS rejects " << f.name << " (p " << f.ks_p_value << ")";
    }
    why = w.str();
  }
  const bool go = drift || a.force == "true";
  report["drift"] = drift;
  report["decision"] = drift ? "drift" : "no_drift";
  report["reason"] = why;
  if (Status s = WriteJson(a.step.File("drift.json"), report); !s.ok()) {
    return Fail(kStep, s.message());
  }
  std::cout << why << (go && !drift ? " (forced: training anyway)" : "") << "\n";
  return go ? pipeline::kStepOk : pipeline::kStepStop;
}

void AddDriftStep(CLI::App& step_cmd, Context& ctx) {
  auto a = std::make_shared<DriftStepArgs>();
  auto* cmd = AddStep(step_cmd, "drift",
                      "reference.csv vs data.csv, PSI and KS per feature: drift.json; exit 0 "
                      "drift, 3 no drift",
                      a->step);
  cmd->add_option("--psi-threshold", a->psi_threshold, "PSI at or above this is drift")
      ->capture_default_str();
  cmd->add_option("--ks-alpha", a->ks_alpha, "KS family-wise significance (Bonferroni)")
      ->capture_default_str();
  cmd->add_option("--force", a->force, "true: go on (exit 0) without drift too")
      ->capture_default_str();
  cmd->callback([&ctx, a] { ctx.run = [&ctx, a] { return RunDriftStep(*a, ctx); }; });
}

}  // namespace

void AddDataSteps(CLI::App& step_cmd, Context& ctx) {
  AddExtract(step_cmd, ctx);
  AddValidate(step_cmd, ctx);
  AddDriftStep(step_cmd, ctx);
}

}  // namespace aiot::cli::steps
