#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/result.h"
#include "ml/data/dataset.h"
#include "ml/data/ttf.h"
#include "ml/train/pipeline.h"

// A training recipe file: every `aiot train` flag as a YAML key (the flag's name with `_` for
// `-`), read by the configuration loader (base/config.h: unknown keys refused with the nearest
// valid one, every problem reported as "key: what (file:line)"). `aiot train --recipe FILE`
// starts from it and lets flags on the command line override it; the pipeline's train step
// takes the same file (`--recipe FILE.yaml`). One parser, one meaning for each key.
//
//   # fan-gbdt.yaml
//   data: fan.csv
//   label: Faulty
//   drop: DeviceID,Time
//   model: gbdt
//   trees: 400
//   max_depth: 4
//   derive: ["power = Rotation * Vibration"]
//   calibrate: platt
//   threshold: f1
namespace aiot::ml {

struct TrainRecipe {
  // Data
  std::string data, label, drop, features, label_map;
  std::string task = "classification";  // classification, regression, time_to_failure
  // time_to_failure: the maintenance records, a file (CSV or the datastore's JSON, told by
  // content) or the platform API's http(s):// URL (ml/data/ttf.h, src/ml/README.md)
  std::string maintenance;
  TtfOptions ttf;
  // Model family: mlp, gbdt, auto, or default (mlp for classification, gbdt for regression).
  std::string model = "default";
  double test = 0.33, validation = 0.1;
  uint64_t seed = 42;
  bool balanced = false;
  // mlp
  std::string hidden = "60,30,10";  // sizes, or none (logistic regression)
  int epochs = 250, batch = 32, patience = 0;
  double lr = 0.001, l2 = 3e-4;
  std::string schedule = "cosine";
  bool int8 = false, per_channel = false;
  // gbdt (test/validation/seed/balanced above)
  GbdtConfig gbdt;
  std::string tree_thresholds = "binned";  // binned (options version 2) or float (version 1)
  // auto
  int folds = 3;
  std::string auto_metric = "roc_auc";
  // every family
  std::vector<std::string> derive;
  std::string calibrate = "none";
  std::string threshold = "0.5";
  double readings_per_day = 1440;
  // outputs
  std::string out, report, int8_out, name;
};

void Describe(config::Visitor& v, TrainRecipe& r);
// What the types cannot say: fractions, the threshold rule, hidden sizes, the label map.
void Validate(config::Checks& checks, const TrainRecipe& r);

// The recipe in `path`; errc::invalid_argument listing every problem with file and line, or
// errc::not_found.
Result<TrainRecipe> LoadTrainRecipe(const std::string& path);

// The training job and the data schema a recipe describes (errc::invalid_argument saying which
// key is malformed). job.name comes from `name`, else the file name of `out`.
Result<TrainJob> RecipeJob(const TrainRecipe& r, DatasetSchema* schema);

// The pipeline train step's `--recipe`: a recipe file (a path ending in .yaml or .yml, read by
// LoadTrainRecipe) or the inline text form (ParseRecipe: "fast,epochs=40"). A recipe file's task
// is classification (the fault model) or, when `ttf` is given, time_to_failure: then job.task is
// "time_to_failure" and `*ttf` gets the recipe's horizon_h (its device and time columns too,
// which the step replaces with the extract's). Task regression is refused (the datastore has no
// numeric target column).
Result<TrainJob> StepRecipeJob(const std::string& recipe, TtfOptions* ttf = nullptr);

}  // namespace aiot::ml
