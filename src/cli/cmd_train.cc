// `aiot train`: train a model from a CSV with flags alone, export .tflite (float and int8).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "cli/command.h"
#include "ml/data/dataset.h"
#include "ml/train/pipeline.h"

namespace aiot::cli {
namespace {

struct TrainArgs {
  std::string data, label, drop, features, label_map, hidden = "60,30,10", out, report, int8_out;
  std::string name;
  ml::LrSchedule schedule = ml::LrSchedule::kCosine;
  int epochs = 250, batch = 32, patience = 0;
  double test = 0.33, validation = 0.1, lr = 0.001, l2 = 3e-4;
  uint64_t seed = 42;
  bool int8 = false, per_channel = false, balanced = false, quiet = false;
  // --model gbdt
  ml::ModelFamily model = ml::ModelFamily::kMlp;
  ml::GbdtConfig gbdt;
  // derived features, calibration, threshold
  std::vector<std::string> derive;
  ml::CalibrationMethod calibrate = ml::CalibrationMethod::kNone;
  std::string threshold = "0.5";
  double readings_per_day = 1440;
  int folds = 3;
  std::string auto_metric = "roc_auc";
};

std::string Clock(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02ld:%02ld", s / 60, s % 60);
  return buf;
}

bool WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

// The data schema and the training job the flags describe; false (after saying why) on a
// malformed --label-map or --hidden.
bool JobFromArgs(const TrainArgs& a, ml::DatasetSchema* schema, ml::TrainJob* job) {
  schema->label = a.label;
  schema->drop = ml::SplitList(a.drop);
  schema->features = ml::SplitList(a.features);
  if (!a.label_map.empty() && !ml::ParseLabelMap(a.label_map, &schema->label_map)) {
    std::cerr << "aiot train: --label-map must look like ok=0,fault=1\n";
    return false;
  }
  job->train.hidden.clear();
  if (a.hidden != "none" && a.hidden != "0") {
    for (const auto& h : ml::SplitList(a.hidden)) {
      double v;
      if (!ml::ParseNumber(h, &v) || v < 1 || v != std::floor(v)) {
        std::cerr << "aiot train: --hidden must be layer sizes like 60,30,10 (or none)\n";
        return false;
      }
      job->train.hidden.push_back(static_cast<int>(v));
    }
  }
  job->train.epochs = a.epochs;
  job->train.batch_size = a.batch;
  job->train.test_fraction = a.test;
  job->train.validation_fraction = a.validation;
  job->train.learning_rate = a.lr;
  job->train.l2 = a.l2;
  job->train.schedule = a.schedule;
  job->train.patience = a.patience;
  job->train.seed = a.seed;
  job->train.balanced_class_weights = a.balanced;
  job->family = a.model;
  job->gbdt = a.gbdt;
  job->gbdt.balanced = a.balanced;
  job->derive = a.derive;
  job->folds = a.folds;
  job->auto_metric = a.auto_metric;
  job->calibration = a.calibrate;
  job->threshold.readings_per_day = a.readings_per_day;
  if (!ml::ParseThresholdRule(a.threshold, &job->threshold)) {
    std::cerr << "aiot train: --threshold must be a number in (0,1), f1, precision:P or "
                 "budget:N\n";
    return false;
  }
  job->int8 = a.int8;
  job->quantize.per_channel = a.per_channel;
  job->name = a.name.empty() ? a.out : a.name;
  const size_t slash = job->name.find_last_of('/');
  if (slash != std::string::npos) job->name = job->name.substr(slash + 1);
  return true;
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
std::string Int8Path(const TrainArgs& a) {
  if (!a.int8_out.empty()) return a.int8_out;
  std::string path = a.out;
  const std::string ext = ".tflite";
  if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0) {
    path.resize(path.size() - ext.size());
  }
  return path + ".int8.tflite";
}

// The model files, the metrics JSON on stdout and the --report file.
int WriteOutputs(const TrainArgs& a, const ml::TrainOutput& out) {
  if (!WriteFile(a.out, out.float_model)) {
    std::cerr << "aiot train: cannot write " << a.out << "\n";
    return kExitFailure;
  }
  std::string int8_path;
  if (a.int8) {
    int8_path = Int8Path(a);
    if (!WriteFile(int8_path, out.int8_model)) {
      std::cerr << "aiot train: cannot write " << int8_path << "\n";
      return kExitFailure;
    }
  }
  std::string json = out.ToJson();
  json.pop_back();
  json += ",\"files\":{\"float\":" + ml::JsonString(a.out) +
          (a.int8 ? ",\"int8\":" + ml::JsonString(int8_path) : std::string()) + "}}";
  std::cout << json << "\n";
  if (!a.report.empty()) {
    std::ofstream r(a.report, std::ios::trunc);
    r << json << "\n";
    if (!r) {
      std::cerr << "aiot train: cannot write " << a.report << "\n";
      return kExitFailure;
    }
  }
  return kExitOk;
}

int RunTrain(const TrainArgs& a) {
  ml::DatasetSchema schema;
  ml::TrainJob job;
  if (!JobFromArgs(a, &schema, &job)) return kExitUsage;
  auto data = ml::LoadDataset(a.data, schema);
  if (!data.ok()) {
    std::cerr << "aiot train: " << data.status().message() << "\n";
    return kExitFailure;
  }
  std::cerr << "aiot train: " << data->rows << " rows, features ";
  for (size_t i = 0; i < data->feature_names.size(); ++i) {
    std::cerr << (i ? "," : "") << data->feature_names[i];
  }
  std::cerr << ", label " << data->label_name << " (" << data->num_classes() << " classes)\n";
  if (a.model == ml::ModelFamily::kAuto && !a.quiet) {
    std::cerr << "aiot train: auto: cross-validating logistic, mlp and gbdt (" << a.folds
              << " folds, " << a.auto_metric << ")\n";
  }
  const bool tty = isatty(fileno(stderr));
  auto out = ml::TrainAndExport(
      *data, job, Progress(a.quiet, tty, a.model == ml::ModelFamily::kGbdt ? "round" : "epoch"));
  if (tty && !a.quiet) std::fputc('\n', stderr);
  if (!out.ok()) {
    std::cerr << "aiot train: " << out.status().message() << "\n";
    return kExitFailure;
  }
  return WriteOutputs(a, *out);
}

// --model and the GBDT flags (--balanced and --seed, --test, --validation are shared).
void AddGbdtOptions(CLI::App* cmd, TrainArgs& a) {
  cmd->add_option(
         "--model", a.model,
         "Model family: mlp (a neural network, --hidden none: logistic regression), gbdt "
         "(gradient-boosted trees, trained with XGBoost, run by aiot's own kernels) or auto "
         "(logistic, mlp and gbdt cross-validated on the training rows, the best kept)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, ml::ModelFamily>{{"mlp", ml::ModelFamily::kMlp},
                                                 {"gbdt", ml::ModelFamily::kGbdt},
                                                 {"auto", ml::ModelFamily::kAuto}},
          CLI::ignore_case))
      ->default_str("mlp");
  cmd->add_option("--folds", a.folds, "auto: cross-validation folds (2..20)")
      ->capture_default_str();
  cmd->add_option("--auto-metric", a.auto_metric,
                  "auto: the cross-validated metric that picks the family: roc_auc or f1 (at 0.5)")
      ->check(CLI::IsMember({"roc_auc", "f1"}))
      ->capture_default_str();
  ml::GbdtConfig& g = a.gbdt;
  cmd->add_option("--trees", g.trees, "gbdt: boosting rounds (most trees)")->capture_default_str();
  cmd->add_option("--max-depth", g.max_depth, "gbdt: depth of each tree")->capture_default_str();
  cmd->add_option("--learning-rate", g.learning_rate, "gbdt: shrinkage per tree (eta)")
      ->capture_default_str();
  cmd->add_option("--min-child-weight", g.min_child_weight,
                  "gbdt: least hessian sum per leaf (larger: fewer, bigger leaves)")
      ->capture_default_str();
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
}

// --derive, --calibrate, --threshold, --readings-per-day.
void AddOutputOptions(CLI::App* cmd, TrainArgs& a) {
  cmd->add_option("--derive", a.derive,
                  "Derived feature computed inside the model, e.g. \"power = torque * rotation * "
                  "0.10472\" (columns and earlier derived names, numbers, + - * /, parentheses; "
                  "`quoted names`); repeatable");
  cmd->add_option("--calibrate", a.calibrate,
                  "Calibrate the score on the validation rows, inside the model: none, platt "
                  "(sigmoid of a*logit+b) or isotonic (monotone piecewise-linear)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, ml::CalibrationMethod>{
              {"none", ml::CalibrationMethod::kNone},
              {"platt", ml::CalibrationMethod::kPlatt},
              {"isotonic", ml::CalibrationMethod::kIsotonic}},
          CLI::ignore_case))
      ->default_str("none");
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
      "Train a classifier (MLP or gradient-boosted trees) from a CSV and export it as .tflite "
      "(float, optionally int8 for MLPs)");
  cmd->add_option("--data", a->data, "CSV file with a header row")->required();
  cmd->add_option("--label", a->label, "Label column")->required();
  cmd->add_option("--drop", a->drop, "Columns to ignore, comma separated");
  cmd->add_option("--features", a->features,
                  "Feature columns in model input order (default: all but label and dropped)");
  cmd->add_option("--label-map", a->label_map, "Map text labels to classes: ok=0,fault=1");
  cmd->add_option("--hidden", a->hidden, "mlp: hidden layer sizes, or none for logistic regression")
      ->capture_default_str();
  cmd->add_option("--epochs", a->epochs, "mlp: epochs")->capture_default_str();
  cmd->add_option("--batch", a->batch, "mlp: mini-batch size")->capture_default_str();
  cmd->add_option("--test", a->test, "Test fraction (stratified)")->capture_default_str();
  cmd->add_option("--validation", a->validation, "Validation fraction of the rest")
      ->capture_default_str();
  cmd->add_option("--lr", a->lr, "mlp: Adam learning rate")->capture_default_str();
  cmd->add_option("--l2", a->l2, "mlp: L2 penalty on weights (0 = off)")->capture_default_str();
  cmd->add_option("--schedule", a->schedule,
                  "mlp: learning-rate schedule: cosine (default) or constant")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, ml::LrSchedule>{{"cosine", ml::LrSchedule::kCosine},
                                                {"constant", ml::LrSchedule::kConstant}},
          CLI::ignore_case));
  cmd->add_option("--patience", a->patience, "mlp: early stopping patience in epochs (0 = off)")
      ->capture_default_str();
  cmd->add_flag("--balanced", a->balanced,
                "Weight classes inversely to their frequency (gbdt: scale_pos_weight)");
  cmd->add_option("--seed", a->seed, "Random seed (split, initialisation, shuffling)")
      ->capture_default_str();
  AddGbdtOptions(cmd, *a);
  AddOutputOptions(cmd, *a);
  cmd->add_option("--out", a->out, "Output .tflite (float)")->required();
  cmd->add_flag("--int8", a->int8, "Also write a post-training int8 model (mlp only)");
  cmd->add_option("--int8-out", a->int8_out, "Path of the int8 model (default: OUT.int8.tflite)");
  cmd->add_flag("--per-channel", a->per_channel, "Per-channel int8 weights (default per-tensor)");
  cmd->add_option("--name", a->name, "Model name in the metadata (default: output file name)");
  cmd->add_option("--report", a->report, "Also write the metrics JSON to this file");
  cmd->add_flag("--quiet", a->quiet, "No progress output");
  cmd->callback([&ctx, a] { ctx.run = [a] { return RunTrain(*a); }; });
}

}  // namespace

AIOT_COMMAND(train, 40, RegisterTrain);

}  // namespace aiot::cli
