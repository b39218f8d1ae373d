#include "mqtt/broker/subscription_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace aiot::mqtt::broker {
namespace {

std::vector<SessionKey> Keys(const SubscriptionIndex& index, std::string_view topic) {
  std::vector<Subscriber> out;
  index.Match(topic, &out);
  std::vector<SessionKey> keys;
  for (const auto& s : out) keys.push_back(s.session);
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST(FilterMatches, Wildcards) {
  EXPECT_TRUE(FilterMatches("a/b", "a/b"));
  EXPECT_FALSE(FilterMatches("a/b", "a/b/c"));
  EXPECT_TRUE(FilterMatches("a/+", "a/b"));
  EXPECT_FALSE(FilterMatches("a/+", "a/b/c"));
  EXPECT_TRUE(FilterMatches("a/+", "a/"));
  EXPECT_TRUE(FilterMatches("a/#", "a"));  // [MQTT-4.7.1-2] parent level
  EXPECT_TRUE(FilterMatches("a/#", "a/b/c"));
  EXPECT_TRUE(FilterMatches("#", "a/b"));
  EXPECT_TRUE(FilterMatches("+/+", "/b"));
  EXPECT_FALSE(FilterMatches("+", "/b"));
  // [MQTT-4.7.2-1] leading wildcards do not match $-topics.
  EXPECT_FALSE(FilterMatches("#", "$SYS/x"));
  EXPECT_FALSE(FilterMatches("+/x", "$SYS/x"));
  EXPECT_TRUE(FilterMatches("$SYS/#", "$SYS/x"));
}

TEST(SubscriptionIndex, ExactAndWildcards) {
  SubscriptionIndex index;
  index.Add(1, 0, "a/b", {});
  index.Add(2, 0, "a/+", {});
  index.Add(3, 0, "#", {});
  index.Add(4, 0, "a/#", {});
  index.Add(5, 0, "+/+/c", {});
  EXPECT_EQ(Keys(index, "a/b"), (std::vector<SessionKey>{1, 2, 3, 4}));
  EXPECT_EQ(Keys(index, "a"), (std::vector<SessionKey>{3, 4}));
  EXPECT_EQ(Keys(index, "a/b/c"), (std::vector<SessionKey>{3, 4, 5}));
  EXPECT_EQ(Keys(index, "x/y"), (std::vector<SessionKey>{3}));
  EXPECT_EQ(index.size(), 5u);
}

TEST(SubscriptionIndex, DollarTopicsNotMatchedByLeadingWildcard_MQTT_4_7_2_1) {
  SubscriptionIndex index;
  index.Add(1, 0, "#", {});
  index.Add(2, 0, "+/broker/uptime", {});
  index.Add(3, 0, "$SYS/#", {});
  index.Add(4, 0, "$SYS/+/uptime", {});
  EXPECT_EQ(Keys(index, "$SYS/broker/uptime"), (std::vector<SessionKey>{3, 4}));
  EXPECT_EQ(Keys(index, "sys/broker/uptime"), (std::vector<SessionKey>{1, 2}));
}

TEST(SubscriptionIndex, OverlappingSubscriptionsReportedPerFilter) {
  SubscriptionIndex index;
  SubscriptionOptions o1{.qos = 0, .subscription_id = 7};
  SubscriptionOptions o2{.qos = 2, .subscription_id = 9};
  index.Add(1, 0, "a/+", o1);
  index.Add(1, 0, "a/#", o2);
  std::vector<Subscriber> out;
  index.Match("a/b", &out);
  ASSERT_EQ(out.size(), 2u);
  std::set<uint32_t> ids{out[0].options.subscription_id, out[1].options.subscription_id};
  EXPECT_EQ(ids, (std::set<uint32_t>{7, 9}));
}

TEST(SubscriptionIndex, ReplaceAndRemovePrunes) {
  SubscriptionIndex index;
  EXPECT_FALSE(index.Add(1, 0, "a/b/c", {.qos = 0}));
  EXPECT_TRUE(index.Add(1, 0, "a/b/c", {.qos = 1}));
  EXPECT_EQ(index.size(), 1u);
  std::vector<Subscriber> out;
  index.Match("a/b/c", &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].options.qos, 1);
  EXPECT_FALSE(index.Remove(2, "a/b/c"));
  EXPECT_TRUE(index.Remove(1, "a/b/c"));
  EXPECT_FALSE(index.Remove(1, "a/b/c"));
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(Keys(index, "a/b/c").empty());
}

TEST(SubscriptionIndex, SharedSubscriptionDeliversToOneMemberRoundRobin) {
  SubscriptionIndex index;
  index.Add(1, 0, "$share/g/t/+", {});
  index.Add(2, 1, "$share/g/t/+", {});
  index.Add(3, 0, "$share/h/t/#", {});
  index.Add(4, 0, "t/x", {});
  std::map<SessionKey, int> counts;
  for (int i = 0; i < 10; ++i) {
    std::vector<Subscriber> out;
    index.Match("t/x", &out);
    ASSERT_EQ(out.size(), 3u);  // one from g, one from h, the plain one
    for (const auto& s : out) counts[s.session]++;
  }
  EXPECT_EQ(counts[1], 5);
  EXPECT_EQ(counts[2], 5);
  EXPECT_EQ(counts[3], 10);
  EXPECT_EQ(counts[4], 10);
  EXPECT_TRUE(index.Remove(1, "$share/g/t/+"));
  EXPECT_TRUE(index.Remove(2, "$share/g/t/+"));
  EXPECT_EQ(Keys(index, "t/x"), (std::vector<SessionKey>{3, 4}));
}

TEST(SubscriptionIndex, RehomeMovesCore) {
  SubscriptionIndex index;
  index.Add(1, 0, "a", {});
  index.Add(1, 0, "$share/g/b", {});
  index.Rehome(1, {"a", "$share/g/b"}, 3);
  std::vector<Subscriber> out;
  index.Match("a", &out);
  index.Match("b", &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].core, 3u);
  EXPECT_EQ(out[1].core, 3u);
}

TEST(ParseSharedFilter, Splits) {
  std::string_view g, f;
  ASSERT_TRUE(ParseSharedFilter("$share/grp/a/b", &g, &f));
  EXPECT_EQ(g, "grp");
  EXPECT_EQ(f, "a/b");
  EXPECT_FALSE(ParseSharedFilter("$sharex/grp/a", &g, &f));
  EXPECT_FALSE(ParseSharedFilter("a/b", &g, &f));
}

}  // namespace
}  // namespace aiot::mqtt::broker
