// `aiot train`: train a model from a CSV with flags alone, export .tflite (float and int8).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>

#include "base/errc.h"
#include "base/file.h"
#include "cli/command.h"
#include "ml/data/dataset.h"
#include "ml/data/ttf.h"
#include "ml/train/pipeline.h"
#include "ml/train/recipe.h"
#include "registry/api_client.h"

namespace aiot::cli {
namespace {

// The flags are a TrainRecipe's keys (ml/train/recipe.h): `--recipe FILE` loads one, and the
// flags given on the command line override it.
struct TrainArgs {
  ml::TrainRecipe r;
  std::string recipe;
  bool quiet = false;
  registry::ApiEndpoint api;  // --maintenance http(s)://...: the token and CA
};

constexpr int64_t kMaintenanceLimit = 10000;  // the datastore's most per GET

// --maintenance http(s)://HOST[:PORT][/api/v1/data/maintenance?QUERY]: the datastore's records
// fetched with the client `aiot maintenance list` uses (a bare base URL lists all, up to the
// datastore's 10000); a file otherwise. Either way ParseMaintenanceRecords reads them.
Result<std::vector<ml::MaintenanceEvent>> LoadMaintenance(const std::string& source,
                                                          registry::ApiEndpoint api) {
  if (source.rfind("http://", 0) != 0 && source.rfind("https://", 0) != 0) {
    return ml::ReadMaintenanceRecords(source);
  }
  const size_t slash = source.find('/', source.find("://") + 3);
  api.url = source.substr(0, slash);
  std::string target = slash == std::string::npos ? "/" : source.substr(slash);
  const bool all = target == "/";
  if (all) target = "/api/v1/data/maintenance?limit=" + std::to_string(kMaintenanceLimit);
  auto reply = api.Client()->Get(target);
  if (!reply.ok()) return reply.status().Prefix(source);
  if (reply->status / 100 != 2) {
    return Status(errc::unavailable, source + ": HTTP " + std::to_string(reply->status) + ": " +
                                         reply->body.substr(0, 200));
  }
  auto events = ml::ParseMaintenanceRecords(reply->body);
  if (!events.ok()) return events.status().Prefix(source);
  if (all && static_cast<int64_t>(events->size()) >= kMaintenanceLimit) {
    std::cerr << "aiot train: warning: the datastore returned " << events->size()
              << " maintenance records, the most one request gets: older ones are missing\n";
  }
  return events;
}

std::string Clock(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02ld:%02ld", s / 60, s % 60);
  return buf;
}

// Progress on stderr: a bar on a terminal, about 25 plain lines otherwise.
ml::ProgressFn Progress(bool quiet, bool tty, const char* unit) {
  return [quiet, tty, unit](const ml::EpochStats& s, int total) {
    if (quiet) return;
    const double eta = s.seconds / s.epoch * (total - s.epoch);
    if (tty) {
      constexpr int kWidth = 30;
      const int filled = s.epoch * kWidth / total;
      std::fprintf(stderr, "\r[%s%s] %s %d/%d  loss %.4f  val_acc %.4f  ETA %s ",
                   std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                   unit, s.epoch, total, s.loss, s.val_accuracy, Clock(eta).c_str());
      if (s.epoch == total) std::fputc('\n', stderr);
    } else {
      const int every = std::max(1, total / 25);
      if (s.epoch % every == 0 || s.epoch == total || s.epoch == 1) {
        std::fprintf(stderr, "%s %d/%d loss=%.4f val_loss=%.4f val_accuracy=%.4f eta=%s\n", unit,
                     s.epoch, total, s.loss, s.val_loss, s.val_accuracy, Clock(eta).c_str());
      }
    }
  };
}

// --int8-out, or OUT with .tflite replaced by .int8.tflite.
std::string Int8Path(const ml::TrainRecipe& a) {
  if (!a.int8_out.empty()) return a.int8_out;
  std::string path = a.out;
  const std::string ext = ".tflite";
  if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0) {
    path.resize(path.size() - ext.size());
  }
  return path + ".int8.tflite";
}

// The model files, the metrics JSON on stdout and the --report file.
int WriteOutputs(const ml::TrainRecipe& a, const ml::TrainOutput& out) {
  if (Status s = WriteFileAtomic(a.out, out.float_model); !s.ok()) {
    std::cerr << "aiot train: " << s.message() << "\n";
    return kExitFailure;
  }
  std::string int8_path;
  if (a.int8) {
    int8_path = Int8Path(a);
    if (Status s = WriteFileAtomic(int8_path, out.int8_model); !s.ok()) {
      std::cerr << "aiot train: " << s.message() << "\n";
      return kExitFailure;
    }
  }
  std::string json = out.ToJson();
  json.pop_back();
  json += ",\"files\":{\"float\":" + ml::JsonString(a.out) +
          (a.int8 ? ",\"int8\":" + ml::JsonString(int8_path) : std::string()) + "}}";
  std::cout << json << "\n";
  if (!a.report.empty()) {
    if (Status s = WriteFileAtomic(a.report, json + "\n"); !s.ok()) {
      std::cerr << "aiot train: " << s.message() << "\n";
      return kExitFailure;
    }
  }
  return kExitOk;
}

// The data set the task asks for: classes from --label, a numeric --label (regression), or hours
// to the next failure from --maintenance records (time_to_failure).
Result<ml::Dataset> LoadData(const TrainArgs& args, const ml::DatasetSchema& schema) {
  const ml::TrainRecipe& a = args.r;
  if (a.task == "classification") return ml::LoadDataset(a.data, schema);
  if (a.task == "regression") return ml::LoadRegressionDataset(a.data, schema);
  auto events = LoadMaintenance(a.maintenance, args.api);
  if (!events.ok()) return events.status();
  ml::TtfStats st;
  auto data = ml::LoadTimeToFailureDataset(a.data, schema, *events, a.ttf, &st);
  if (data.ok()) {
    std::cerr << "aiot train: time to failure: " << st.rows << " readings, " << st.failures
              << " failures; kept " << st.exact << " with a failure ahead and " << st.capped
              << " at the " << a.ttf.horizon_h << " h horizon, left out " << st.censored
              << " censored (no failure seen" << (a.ttf.horizon_h > 0 ? " within the horizon" : "")
              << ")\n";
  }
  return data;
}

int RunTrain(const TrainArgs& args) {
  const ml::TrainRecipe& a = args.r;
  ml::DatasetSchema schema;
  auto job = ml::RecipeJob(a, &schema);
  if (!job.ok()) {
    std::cerr << "aiot train: " << job.status().message() << "\n";
    return kExitUsage;
  }
  if (a.data.empty() || a.out.empty()) {
    std::cerr << "aiot train: --data and --out are required (on the command line or in the "
                 "recipe)\n";
    return kExitUsage;
  }
  if ((a.task == "time_to_failure") != !a.maintenance.empty() ||
      (a.task == "time_to_failure") == !a.label.empty()) {
    std::cerr << "aiot train: --task time_to_failure takes --maintenance FILE and no --label; "
                 "classification and regression take --label and no --maintenance\n";
    return kExitUsage;
  }
  auto data = LoadData(args, schema);
  if (!data.ok()) {
    std::cerr << "aiot train: " << data.status().message() << "\n";
    return kExitFailure;
  }
  std::cerr << "aiot train: " << data->rows << " rows, features ";
  for (size_t i = 0; i < data->feature_names.size(); ++i) {
    std::cerr << (i ? "," : "") << data->feature_names[i];
  }
  if (data->regression()) {
    std::cerr << ", target " << data->label_name << " (regression)\n";
  } else {
    std::cerr << ", label " << data->label_name << " (" << data->num_classes() << " classes)\n";
  }
  if (job->family == ml::ModelFamily::kAuto && !args.quiet) {
    std::cerr << "aiot train: auto: cross-validating logistic, mlp and gbdt (" << a.folds
              << " folds, " << a.auto_metric << ")\n";
  }
  const bool tty = isatty(fileno(stderr));
  auto out = ml::TrainAndExport(
      *data, *job,
      Progress(args.quiet, tty, job->family == ml::ModelFamily::kGbdt ? "round" : "epoch"));
  if (tty && !args.quiet) std::fputc('\n', stderr);
  if (!out.ok()) {
    std::cerr << "aiot train: " << out.status().message() << "\n";
    return kExitFailure;
  }
  return WriteOutputs(a, *out);
}

// --model and the GBDT flags (--balanced and --seed, --test, --validation are shared).
void AddGbdtOptions(CLI::App* cmd, ml::TrainRecipe& a) {
  cmd->add_option(
         "--model", a.model,
         "Model family: mlp (a neural network, --hidden none: logistic regression), gbdt "
         "(gradient-boosted trees, trained with XGBoost, run by aiot's own kernels) or auto "
         "(logistic, mlp and gbdt cross-validated on the training rows, the best kept)")
      ->check(CLI::IsMember({"default", "mlp", "gbdt", "auto"}, CLI::ignore_case))
      ->default_str("default (mlp; gbdt for regression)");
  cmd->add_option("--folds", a.folds, "auto: cross-validation folds (2..20)")
      ->capture_default_str();
  cmd->add_option("--auto-metric", a.auto_metric,
                  "auto: the cross-validated metric that picks the family: roc_auc or f1 (at 0.5)")
      ->check(CLI::IsMember({"roc_auc", "f1"}))
      ->capture_default_str();
  ml::GbdtConfig& g = a.gbdt;
  cmd->add_option("--trees", g.trees, "gbdt: boosting rounds (most trees)")->capture_default_str();
  cmd->add_option("--max-depth", g.max_depth,
                  "gbdt: depth of each tree (0 = no limit: lossguide with --max-leaves 2..65)")
      ->capture_default_str();
  cmd->add_option("--grow-policy", g.grow_policy,
                  "gbdt: depthwise (level by level) or lossguide (leaf-wise: the leaf with the "
                  "highest loss reduction first, as LightGBM and scikit-learn's HGB)")
      ->check(CLI::IsMember({"depthwise", "lossguide"}))
      ->capture_default_str();
  cmd->add_option("--max-leaves", g.max_leaves, "gbdt: most leaves per tree (0 = no limit)")
      ->capture_default_str();
  cmd->add_option("--parallel-trees", g.parallel_trees,
                  "gbdt: trees per round fitted to the same gradients and averaged (XGBoost's "
                  "num_parallel_tree; with --subsample/--colsample < 1, 1..100)")
      ->capture_default_str();
  cmd->add_option("--learning-rate", g.learning_rate, "gbdt: shrinkage per tree (eta)")
      ->capture_default_str();
  cmd->add_option("--min-child-weight", g.min_child_weight,
                  "gbdt: least hessian sum per leaf (larger: fewer, bigger leaves); default 10 "
                  "for classification (chosen by cross-validation), 1 for regression");
  cmd->add_option("--subsample", g.subsample, "gbdt: fraction of rows sampled per tree")
      ->capture_default_str();
  cmd->add_option("--colsample", g.colsample, "gbdt: fraction of features sampled per tree")
      ->capture_default_str();
  cmd->add_option("--lambda", g.lambda, "gbdt: L2 penalty on leaf values")->capture_default_str();
  cmd->add_option("--max-bin", g.max_bin, "gbdt: histogram bins per feature")
      ->capture_default_str();
  cmd->add_option("--early-stopping-rounds", g.early_stopping_rounds,
                  "gbdt: stop when the validation log loss has not improved for N rounds, keep "
                  "the best round (0 = off)")
      ->capture_default_str();
  cmd->add_option("--scale-pos-weight", g.scale_pos_weight,
                  "gbdt: weight of class 1 against class 0 (--balanced: negatives/positives)")
      ->capture_default_str();
  cmd->add_option("--threads", g.threads,
                  "gbdt: training threads (0 = every core; XGBoost's OpenMP threads slow down "
                  "badly on a busy machine)")
      ->capture_default_str();
  cmd->add_option("--tree-thresholds", a.tree_thresholds,
                  "gbdt: how the model file stores split thresholds: binned (operator options "
                  "version 2, about half the bytes) or float (version 1, for devices running an "
                  "aiot too old to read version 2); the scores are identical")
      ->check(CLI::IsMember({"binned", "float"}))
      ->capture_default_str();
}

// --derive, --calibrate, --threshold, --readings-per-day.
void AddOutputOptions(CLI::App* cmd, ml::TrainRecipe& a) {
  cmd->add_option("--derive", a.derive,
                  "Derived feature computed inside the model, e.g. \"power = torque * rotation * "
                  "0.10472\" (columns and earlier derived names, numbers, + - * /, parentheses; "
                  "`quoted names`); repeatable");
  cmd->add_option("--calibrate", a.calibrate,
                  "Calibrate the score on the validation rows, inside the model: none, platt "
                  "(sigmoid of a*logit+b) or isotonic (monotone piecewise-linear)")
      ->check(CLI::IsMember({"none", "platt", "isotonic"}, CLI::ignore_case))
      ->capture_default_str();
  cmd->add_option("--threshold", a.threshold,
                  "Decision threshold stored in the model: a number, or chosen on the validation "
                  "rows: f1 (best F1), precision:P (best recall at precision >= P), budget:N (at "
                  "most N alerts per device per day, see --readings-per-day)")
      ->capture_default_str();
  cmd->add_option("--readings-per-day", a.readings_per_day,
                  "For --threshold budget:N: rows one device sends per day")
      ->capture_default_str();
}

void RegisterTrain(CLI::App& root, Context& ctx) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = root.add_subcommand(
      "train",
      "Train a classifier (MLP or gradient-boosted trees), or a regression / time-to-failure "
      "model (gradient-boosted trees), from a CSV and export it as .tflite (float, optionally "
      "int8 for MLPs)");
  cmd->add_option(
      "--recipe", a->recipe,
      "YAML recipe holding any of these flags as keys (`max_depth: 4`, `derive: [...]`; "
      "see aiot train --help); flags given here override it");
  cmd->add_option("--data", a->r.data,
                  "CSV file with a header row (required, here or in the recipe)");
  cmd->add_option("--label", a->r.label,
                  "Label column (classification: classes; --task regression: the target number)");
  cmd->add_option("--task", a->r.task,
                  "classification (default), regression (--label is a number) or "
                  "time_to_failure (hours to the device's next failure, from --maintenance; "
                  "regression and time_to_failure train gbdt)")
      ->check(CLI::IsMember({"classification", "regression", "time_to_failure"}))
      ->capture_default_str();
  cmd->add_option("--maintenance", a->r.maintenance,
                  "time_to_failure: maintenance records (failure, repair, inspection), CSV "
                  "(device,kind,at[,mode]; aiot simulate --history --maintenance-out) or the "
                  "datastore's JSON (aiot maintenance list --json), told by content; or the "
                  "platform API's URL, http(s)://HOST:PORT, to fetch the datastore's records "
                  "(with --token/--token-file; env AIOT_CACERT for https)");
  a->api.AddTokenFlags(cmd);
  cmd->add_option("--device-column", a->r.ttf.device_column,
                  "time_to_failure: the readings' device id column (not a feature)")
      ->capture_default_str();
  cmd->add_option("--time-column", a->r.ttf.time_column,
                  "time_to_failure: the readings' time column (RFC 3339 or YYYY-MM-DD HH:MM:SS "
                  "UTC; not a feature)")
      ->capture_default_str();
  cmd->add_option("--horizon-h", a->r.ttf.horizon_h,
                  "time_to_failure: cap the target at H hours; readings censored (no failure seen "
                  "after them) are kept at H when observed at least H hours, else left out "
                  "(0 = no cap: every censored reading is left out)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--drop", a->r.drop, "Columns to ignore, comma separated");
  cmd->add_option("--features", a->r.features,
                  "Feature columns in model input order (default: all but label and dropped)");
  cmd->add_option("--label-map", a->r.label_map, "Map text labels to classes: ok=0,fault=1");
  cmd->add_option("--hidden", a->r.hidden,
                  "mlp: hidden layer sizes, or none for logistic regression")
      ->capture_default_str();
  cmd->add_option("--epochs", a->r.epochs, "mlp: epochs")->capture_default_str();
  cmd->add_option("--batch", a->r.batch, "mlp: mini-batch size")->capture_default_str();
  cmd->add_option("--test", a->r.test, "Test fraction (stratified)")->capture_default_str();
  cmd->add_option("--validation", a->r.validation, "Validation fraction of the rest")
      ->capture_default_str();
  cmd->add_option("--lr", a->r.lr, "mlp: Adam learning rate")->capture_default_str();
  cmd->add_option("--l2", a->r.l2, "mlp: L2 penalty on weights (0 = off)")->capture_default_str();
  cmd->add_option("--schedule", a->r.schedule,
                  "mlp: learning-rate schedule: cosine (default) or constant")
      ->check(CLI::IsMember({"cosine", "constant"}, CLI::ignore_case))
      ->capture_default_str();
  cmd->add_option("--patience", a->r.patience, "mlp: early stopping patience in epochs (0 = off)")
      ->capture_default_str();
  cmd->add_flag("--balanced", a->r.balanced,
                "Weight classes inversely to their frequency (gbdt: scale_pos_weight)");
  cmd->add_option("--seed", a->r.seed, "Random seed (split, initialisation, shuffling)")
      ->capture_default_str();
  AddGbdtOptions(cmd, a->r);
  AddOutputOptions(cmd, a->r);
  cmd->add_option("--out", a->r.out, "Output .tflite (float; required, here or in the recipe)");
  cmd->add_flag("--int8", a->r.int8, "Also write a post-training int8 model (mlp only)");
  cmd->add_option("--int8-out", a->r.int8_out, "Path of the int8 model (default: OUT.int8.tflite)");
  cmd->add_flag("--per-channel", a->r.per_channel, "Per-channel int8 weights (default per-tensor)");
  cmd->add_option("--name", a->r.name, "Model name in the metadata (default: output file name)");
  cmd->add_option("--report", a->r.report, "Also write the metrics JSON to this file");
  cmd->add_flag("--quiet", a->quiet, "No progress output");
  cmd->callback([&ctx, a, cmd] {
    if (!a->recipe.empty()) {
      // The recipe first, then every flag given on the command line again on top of it.
      auto recipe = ml::LoadTrainRecipe(a->recipe);
      if (!recipe.ok()) {
        const std::string why = recipe.status().message();
        ctx.run = [why] {
          std::cerr << "aiot train: " << why << "\n";
          return kExitUsage;
        };
        return;
      }
      a->r = std::move(*recipe);
      for (CLI::Option* o : cmd->get_options()) {
        if (o->count() > 0 && o->get_name() != "--recipe") o->run_callback();
      }
    }
    ctx.run = [&ctx, a] {
      if (a->r.maintenance.rfind("http://", 0) == 0 || a->r.maintenance.rfind("https://", 0) == 0) {
        ctx.ResolveTokenFile(a->api);
      }
      return RunTrain(*a);
    };
  });
}

}  // namespace

AIOT_COMMAND(train, 40, RegisterTrain);

}  // namespace aiot::cli
