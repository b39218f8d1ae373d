#include "mqtt/broker/retained_store.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace aiot::mqtt::broker {
namespace {

MessagePtr Msg(std::string topic, std::string payload, std::optional<uint32_t> expiry = {}) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->retain = true;
  m->properties.message_expiry_interval = expiry;
  return m;
}

std::vector<std::string> Topics(const RetainedStore& store, std::string_view filter,
                                int64_t now = 0) {
  std::vector<MessagePtr> out;
  store.Match(filter, now, &out);
  std::vector<std::string> topics;
  for (const auto& m : out) topics.push_back(m->topic);
  std::sort(topics.begin(), topics.end());
  return topics;
}

TEST(RetainedStore, SetReplaceClear_MQTT_3_3_1_5_6_7) {
  RetainedStore store;
  store.Put(Msg("a/b", "1"));
  store.Put(Msg("a/b", "2"));
  EXPECT_EQ(store.size(), 1u);
  std::vector<MessagePtr> out;
  store.Match("a/b", 0, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->payload.view(), "2");
  store.Put(Msg("a/b", ""));  // empty payload clears [MQTT-3.3.1-6]
  EXPECT_EQ(store.size(), 0u);
  EXPECT_TRUE(Topics(store, "#").empty());
  EXPECT_EQ(store.bytes(), 0u);
}

TEST(RetainedStore, WildcardsAndDollarRule) {
  RetainedStore store;
  for (const char* t : {"a", "a/b", "a/b/c", "x/b", "$SYS/up", "/lead"}) store.Put(Msg(t, "v"));
  EXPECT_EQ(Topics(store, "#"), (std::vector<std::string>{"/lead", "a", "a/b", "a/b/c", "x/b"}));
  EXPECT_EQ(Topics(store, "a/#"), (std::vector<std::string>{"a", "a/b", "a/b/c"}));
  EXPECT_EQ(Topics(store, "+/b"), (std::vector<std::string>{"a/b", "x/b"}));
  EXPECT_EQ(Topics(store, "+"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(Topics(store, "+/lead"), (std::vector<std::string>{"/lead"}));
  EXPECT_EQ(Topics(store, "$SYS/#"), (std::vector<std::string>{"$SYS/up"}));
  EXPECT_EQ(Topics(store, "+/up"), (std::vector<std::string>{}));
}

TEST(RetainedStore, ExpiredMessagesNotDelivered_MQTT_3_3_2_5) {
  RetainedStore store;
  store.Put(Msg("a", "v", 2));
  store.Put(Msg("b", "v"));
  EXPECT_EQ(Topics(store, "#", 1'000'000'000), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Topics(store, "#", 3'000'000'000), (std::vector<std::string>{"b"}));
  EXPECT_EQ(store.Expire(3'000'000'000), 1u);
  EXPECT_EQ(store.size(), 1u);
}

}  // namespace
}  // namespace aiot::mqtt::broker
