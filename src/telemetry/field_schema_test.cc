#include "telemetry/field_schema.h"

#include <gtest/gtest.h>

#include "base/config.h"

namespace aiot::telemetry {
namespace {

TEST(FieldSchema, DefaultIsTheFanAndValid) {
  FieldSchema s;
  EXPECT_TRUE(s.IsFan());
  EXPECT_EQ(s.features,
            (std::vector<std::string>{"rotation", "temperature", "vibration", "sound"}));
  EXPECT_EQ(s.label, "faulty");
  EXPECT_TRUE(s.Validate().ok());
}

TEST(FieldSchema, LoadsFromTheFieldsSection) {
  FieldSchema s;
  config::LoadYaml("features: [current, voltage, temperature]\nlabel: broken\n", "<string>",
                   [&s](config::Visitor& v) { Describe(v, s); });
  EXPECT_EQ(s.features, (std::vector<std::string>{"current", "voltage", "temperature"}));
  EXPECT_EQ(s.label, "broken");
  EXPECT_FALSE(s.IsFan());
  EXPECT_TRUE(s.Validate().ok()) << s.Validate().message();
}

TEST(FieldSchema, RejectsNamesNoConsumerCanUse) {
  struct Case {
    std::vector<std::string> features;
    std::string label;
    std::string says;
  };
  const Case cases[] = {
      {{}, "faulty", "1 to 64"},
      {{"a b"}, "faulty", "`a b` is not a valid field name"},
      {{"x\"); DROP TABLE t;--"}, "faulty", "not a valid field name"},
      {{"1st"}, "faulty", "not a valid field name"},
      {{std::string(65, 'a')}, "faulty", "not a valid field name"},
      {{"current", "current"}, "faulty", "`current` is listed twice"},
      {{"Time"}, "faulty", "`Time` is reserved"},
      {{"score"}, "faulty", "reserved"},
      {{"current"}, "current", "also a feature"},
      {{"current"}, "bad label", "fields.label"},
  };
  for (const Case& c : cases) {
    FieldSchema s{c.features, c.label};
    Status st = s.Validate();
    EXPECT_FALSE(st.ok()) << c.says;
    EXPECT_NE(st.message().find(c.says), std::string::npos) << st.message();
  }
  EXPECT_TRUE((FieldSchema{{"current"}, ""}).Validate().ok()) << "the label is optional";
}

}  // namespace
}  // namespace aiot::telemetry
