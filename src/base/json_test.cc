#include "base/json.h"

#include <gtest/gtest.h>

namespace aiot {
namespace {

TEST(SafeJson, WrongTypesReadAsAbsentAndNeverThrow) {
  const auto j = nlohmann::json::parse(
      R"({"name":5,"path":"/m.tflite","version":3,"big":18446744073709551615,"frac":1.5,)"
      R"("on":true,"none":null,"nested":{"a":"b"}})");
  EXPECT_EQ(json::String(j, "name"), std::nullopt);
  EXPECT_EQ(json::StringOr(j, "name", "dflt"), "dflt");
  EXPECT_EQ(json::StringOr(j, "path", ""), "/m.tflite");
  EXPECT_EQ(json::StringOr(j, "missing", "x"), "x");
  EXPECT_EQ(json::Int(j, "version"), 3);
  EXPECT_EQ(json::Int(j, "big"), std::nullopt);
  EXPECT_EQ(json::Int(j, "frac"), std::nullopt);
  EXPECT_EQ(json::Int(j, "path"), std::nullopt);
  EXPECT_EQ(json::Number(j, "frac"), 1.5);
  EXPECT_EQ(json::Number(j, "on"), std::nullopt);
  EXPECT_EQ(json::Bool(j, "on"), true);
  EXPECT_EQ(json::Bool(j, "version"), std::nullopt);
  EXPECT_TRUE(json::Has(j, "name"));
  EXPECT_FALSE(json::Has(j, "none"));
  EXPECT_FALSE(json::Has(j, "missing"));
  EXPECT_EQ(json::StringOr(*json::Find(j, "nested"), "a", ""), "b");
  // Not an object at all: everything is absent.
  for (const char* text : {"[1,2]", "\"name\"", "null", "7"}) {
    const auto k = nlohmann::json::parse(text);
    EXPECT_EQ(json::Find(k, "name"), nullptr) << text;
    EXPECT_EQ(json::StringOr(k, "name", "d"), "d") << text;
    EXPECT_EQ(json::Int(k, "name"), std::nullopt) << text;
  }
  const auto discarded = nlohmann::json::parse("{oops", nullptr, false);
  EXPECT_EQ(json::String(discarded, "name"), std::nullopt);
}

}  // namespace
}  // namespace aiot
