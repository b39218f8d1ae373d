#include <gtest/gtest.h>

#include <cstring>

#include "ml/data/random.h"
#include "ml/runtime/interpreter.h"
#include "ml/runtime/model.h"
#include "ml/tflite/graph.h"
#include "ml/tflite/metadata.h"

namespace aiot::ml {
namespace {

// in[1,3] -> FC(2x3, relu) -> QUANTIZE -> DEQUANTIZE -> out
GraphSpec SmallGraph() {
  GraphSpec g;
  g.name = "main";
  g.description = "test";
  auto add = [&](const std::string& name, TensorType type, std::vector<int32_t> shape,
                 std::vector<uint8_t> data = {}) {
    TensorSpec t;
    t.name = name;
    t.type = type;
    t.shape = std::move(shape);
    t.data = std::move(data);
    g.tensors.push_back(t);
    return static_cast<int32_t>(g.tensors.size() - 1);
  };
  int in = add("in", TensorType::kFloat32, {1, 3});
  int w = add("w", TensorType::kFloat32, {2, 3}, ToBytes(std::vector<float>{1, 2, 3, -1, -2, -3}));
  int b = add("b", TensorType::kFloat32, {2}, ToBytes(std::vector<float>{0.5f, 0.25f}));
  int h = add("h", TensorType::kFloat32, {1, 2});
  int q = add("q", TensorType::kInt8, {1, 2});
  g.tensors[q].quant.scale = {0.1f};
  g.tensors[q].quant.zero_point = {-3};
  int out = add("out", TensorType::kFloat32, {1, 2});
  OpSpec fc;
  fc.builtin_code = static_cast<int32_t>(Op::kFullyConnected);
  fc.inputs = {in, w, b};
  fc.outputs = {h};
  fc.activation = Activation::kRelu;
  OpSpec qo;
  qo.builtin_code = static_cast<int32_t>(Op::kQuantize);
  qo.inputs = {h};
  qo.outputs = {q};
  OpSpec dq;
  dq.builtin_code = static_cast<int32_t>(Op::kDequantize);
  dq.inputs = {q};
  dq.outputs = {out};
  g.ops = {fc, qo, dq};
  g.inputs = {in};
  g.outputs = {out};
  g.metadata.emplace_back("note", std::vector<uint8_t>{'h', 'i'});
  return g;
}

TEST(TfliteTest, WriteReadRoundTrip) {
  GraphSpec g = SmallGraph();
  auto bytes = WriteTflite(g);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(std::memcmp(bytes->data() + 4, "TFL3", 4), 0);
  auto r = ReadTflite(bytes->data(), bytes->size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->tensors.size(), g.tensors.size());
  for (size_t i = 0; i < g.tensors.size(); ++i) {
    EXPECT_EQ(r->tensors[i].name, g.tensors[i].name);
    EXPECT_EQ(r->tensors[i].type, g.tensors[i].type);
    EXPECT_EQ(r->tensors[i].shape, g.tensors[i].shape);
    EXPECT_EQ(r->tensors[i].data, g.tensors[i].data);
    EXPECT_EQ(r->tensors[i].quant.scale, g.tensors[i].quant.scale);
    EXPECT_EQ(r->tensors[i].quant.zero_point, g.tensors[i].quant.zero_point);
  }
  ASSERT_EQ(r->ops.size(), 3u);
  EXPECT_EQ(r->ops[0].op(), Op::kFullyConnected);
  EXPECT_EQ(r->ops[0].activation, Activation::kRelu);
  EXPECT_EQ(r->ops[1].op(), Op::kQuantize);
  EXPECT_EQ(r->ops[2].op(), Op::kDequantize);
  EXPECT_EQ(r->inputs, g.inputs);
  EXPECT_EQ(r->outputs, g.outputs);
  EXPECT_EQ(r->description, "test");
  ASSERT_NE(r->FindMetadata("note"), nullptr);
  EXPECT_EQ(*r->FindMetadata("note"), (std::vector<uint8_t>{'h', 'i'}));
}

TEST(TfliteTest, ConstantBuffersAreAligned) {
  auto bytes = WriteTflite(SmallGraph());
  ASSERT_TRUE(bytes.ok());
  // The float weights 1,2,3,-1,-2,-3 must start on a 16-byte boundary of the file.
  const float w[] = {1, 2, 3, -1, -2, -3};
  bool found = false;
  for (size_t off = 0; off + sizeof(w) <= bytes->size(); ++off) {
    if (std::memcmp(bytes->data() + off, w, sizeof(w)) == 0) {
      EXPECT_EQ(off % 16, 0u);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(TfliteTest, WriterRejectsInconsistentGraphs) {
  GraphSpec g = SmallGraph();
  g.tensors[1].data.pop_back();
  auto bad = WriteTflite(g);
  EXPECT_FALSE(bad.ok());
  const std::string err = bad.status().message();
  EXPECT_NE(err.find("'w'"), std::string::npos) << err;
  g = SmallGraph();
  g.ops[0].inputs[0] = 99;
  EXPECT_FALSE(WriteTflite(g).ok());
}

TEST(TfliteTest, RunsTheRoundTrippedGraph) {
  auto bytes = WriteTflite(SmallGraph());
  ASSERT_TRUE(bytes.ok());
  auto model = Model::FromBytes(*bytes);
  ASSERT_TRUE(model.ok());
  auto it = Interpreter::Create((*model)->graph());
  ASSERT_TRUE(it.ok());
  auto in = (*it)->input(0);
  in.f32()[0] = 1;
  in.f32()[1] = 0.5f;
  in.f32()[2] = 0.25f;
  ASSERT_TRUE((*it)->Invoke().ok());
  auto out = (*it)->output(0);
  // h = relu([1+1+0.75+0.5, -1-1-0.75+0.25]) = [3.25, 0]; quantized with scale 0.1, zp -3.
  // 3.25 / 0.1f is just below 32.5, so q = 32 - 3 = 29 and back: 0.1 * 32 = 3.2.
  EXPECT_NEAR(out.f32()[0], 3.2f, 1e-5);
  EXPECT_NEAR(out.f32()[1], 0.0f, 1e-6);
}

TEST(TfliteTest, TruncatedAndCorruptedFilesNeverCrash) {
  auto bytes = WriteTflite(SmallGraph());
  ASSERT_TRUE(bytes.ok());
  size_t accepted = 0;
  for (size_t len = 0; len < bytes->size(); ++len) {
    std::vector<uint8_t> cut(bytes->begin(), bytes->begin() + len);
    auto m = Model::FromBytes(cut);
    if (m.ok()) ++accepted;
  }
  EXPECT_EQ(accepted, 0u);
  Rng rng(1);
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> bad = *bytes;
    const int flips = 1 + static_cast<int>(rng.Below(4));
    for (int f = 0; f < flips; ++f)
      bad[rng.Below(bad.size())] = static_cast<uint8_t>(rng.Below(256));
    auto m = Model::FromBytes(bad);
    if (!m.ok()) {
      EXPECT_FALSE(m.status().message().empty());
      continue;
    }
    auto it = Interpreter::Create((*m)->graph(), {});
    if (it.ok()) {
      auto in = (*it)->input(0);
      if (in.type == TensorType::kFloat32) {
        for (size_t i = 0; i < in.elements; ++i) in.f32()[i] = 0.5f;
      }
      (void)(*it)->Invoke();
    }
  }
}

TEST(MetadataTest, RoundTripAndCorruption) {
  ModelMetadata m;
  m.name = "fan";
  m.label = "Faulty";
  m.class_names = {"ok", "fault"};
  FeatureInfo f;
  f.name = "Rotation";
  f.mean = 600;
  f.stddev = 50;
  std::vector<float> values;
  for (int i = 0; i < 1000; ++i) values.push_back(static_cast<float>(i));
  ComputeProfile(values, &f);
  m.features = {f};
  m.metrics = {{"test_accuracy", 0.95}};
  m.training_data_sha256 = "ab";
  m.training_rows = 1000;
  auto bytes = EncodeMetadata(m);
  auto d = DecodeMetadata(bytes.data(), bytes.size());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->name, "fan");
  EXPECT_EQ(d->class_names, m.class_names);
  ASSERT_EQ(d->features.size(), 1u);
  EXPECT_EQ(d->features[0].quantiles.size(), 101u);
  EXPECT_FLOAT_EQ(d->features[0].quantiles[50], 499.5f);
  EXPECT_EQ(d->features[0].psi_edges.size(), 9u);
  EXPECT_EQ(d->features[0].psi_fractions.size(), 10u);
  EXPECT_NEAR(d->features[0].psi_fractions[0], 0.1, 0.002);
  EXPECT_DOUBLE_EQ(d->Metric("test_accuracy", 0), 0.95);
  EXPECT_EQ(d->training_rows, 1000u);
  bytes.resize(bytes.size() / 2);
  EXPECT_FALSE(DecodeMetadata(bytes.data(), bytes.size()).ok());
}

}  // namespace
}  // namespace aiot::ml
