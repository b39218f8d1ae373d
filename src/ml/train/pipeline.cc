#include "ml/train/pipeline.h"

#include <cmath>

#include "base/errc.h"
#include "ml/runtime/model.h"
#include "ml/train/export.h"

namespace aiot::ml {

Result<std::vector<float>> ScoreRows(const std::vector<uint8_t>& bytes, const Dataset& data) {
  auto model = Model::FromBytes(bytes);
  if (!model.ok()) return model.status();
  auto scorer = Scorer::Create(*model, {});
  if (!scorer.ok()) return scorer.status();
  if ((*scorer)->num_features() != static_cast<int>(data.cols)) {
    return Status(errc::invalid_argument,
                  "the model takes " + std::to_string((*scorer)->num_features()) +
                      " features, the data has " + std::to_string(data.cols));
  }
  std::vector<float> out(data.rows * (*scorer)->num_outputs());
  if (data.rows > 0) (*scorer)->ScoreBatch(data.x.data(), data.rows, out.data());
  return out;
}

Result<std::vector<uint8_t>> QuantizeModel(const std::vector<uint8_t>& float_model,
                                           const Dataset& calibration,
                                           const QuantizeOptions& options) {
  auto model = Model::FromBytes(float_model);
  if (!model.ok()) return model.status();
  auto q = QuantizeGraph((*model)->graph(), calibration.x.data(), calibration.rows, options);
  if (!q.ok()) return q.status();
  if ((*model)->has_metadata()) {
    ModelMetadata md = (*model)->metadata();
    md.quantization = options.per_channel ? "int8-per-channel" : "int8";
    for (auto& [name, bytes] : q->metadata) {
      if (name == kMetadataName) bytes = EncodeMetadata(md);
    }
  }
  return WriteTflite(*q);
}

Result<TrainOutput> TrainAndExport(const Dataset& data, const TrainJob& job,
                                   const ProgressFn& progress) {
  TrainOutput out;
  auto r = Train(data, job.train, progress);
  if (!r.ok()) return r.status();
  out.result = std::move(*r);
  const Dataset test = data.Subset(out.result.split.test);
  const int k = data.num_classes();
  out.test = Evaluate(out.result.model.PredictAll(test), test.y, k);
  out.metadata = MakeMetadata(data, out.result.split.train, out.result.model, out.test, job.name);
  auto bytes = WriteTflite(BuildFloatGraph(out.result.model, out.metadata));
  if (!bytes.ok()) return bytes.status();
  out.float_model = std::move(*bytes);
  // The exported model must score the test set exactly like the trainer's reference forward pass.
  auto float_scores = ScoreRows(out.float_model, test);
  if (!float_scores.ok()) return float_scores.status();
  out.test = Evaluate(*float_scores, test.y, k);
  if (job.int8) {
    std::vector<size_t> calib = out.result.split.train;
    if (job.calibration_rows > 0 && calib.size() > job.calibration_rows) {
      calib.resize(job.calibration_rows);  // the split is already shuffled
    }
    auto q = QuantizeModel(out.float_model, data.Subset(calib), job.quantize);
    if (!q.ok()) return q.status();
    out.int8_model = std::move(*q);
    auto q_scores = ScoreRows(out.int8_model, test);
    if (!q_scores.ok()) return q_scores.status();
    out.test_int8 = Evaluate(*q_scores, test.y, k);
    const int width = k == 2 ? 1 : k;
    size_t same = 0;
    for (size_t i = 0; i < test.rows; ++i) {
      same += PredictedClass(float_scores->data() + i * width, k, out.test.threshold) ==
              PredictedClass(q_scores->data() + i * width, k, out.test.threshold);
    }
    for (size_t i = 0; i < q_scores->size(); ++i) {
      out.int8_max_score_diff =
          std::max(out.int8_max_score_diff,
                   static_cast<double>(std::abs((*q_scores)[i] - (*float_scores)[i])));
    }
    out.int8_agreement = test.rows ? static_cast<double>(same) / static_cast<double>(test.rows) : 1;
  }
  return out;
}

std::string TrainOutput::ToJson() const {
  std::string s = "{\"model\":" + JsonString(metadata.name) + ",\"features\":[";
  for (size_t i = 0; i < metadata.features.size(); ++i) {
    s += (i ? "," : "") + JsonString(metadata.features[i].name);
  }
  s += "],\"train\":{\"rows\":" + std::to_string(result.split.train.size()) +
       ",\"validation_rows\":" + std::to_string(result.split.validation.size()) +
       ",\"epochs\":" + std::to_string(result.history.size()) +
       ",\"best_epoch\":" + std::to_string(result.best_epoch) +
       ",\"seconds\":" + JsonNumber(result.seconds) +
       ",\"final_loss\":" + JsonNumber(result.history.empty() ? 0 : result.history.back().loss) +
       ",\"data_sha256\":" + JsonString(metadata.training_data_sha256) +
       "},\"test\":" + aiot::ml::ToJson(test);
  if (!int8_model.empty()) {
    s += ",\"int8\":{\"test\":" + aiot::ml::ToJson(test_int8) +
         ",\"decision_agreement\":" + JsonNumber(int8_agreement) +
         ",\"accuracy_delta\":" + JsonNumber(test_int8.accuracy - test.accuracy) +
         ",\"max_score_diff\":" + JsonNumber(int8_max_score_diff) + "}";
  }
  return s + "}";
}

}  // namespace aiot::ml
