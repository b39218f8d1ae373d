#include "mqtt/protocol/topic.h"

#include <gtest/gtest.h>

namespace aiot::mqtt {
namespace {

TEST(TopicMatches, Literal) {
  EXPECT_TRUE(TopicMatches("fan/messages", "fan/messages"));
  EXPECT_FALSE(TopicMatches("fan/messages", "fan/message"));
  EXPECT_FALSE(TopicMatches("fan/messages", "fan/messages/x"));
  EXPECT_FALSE(TopicMatches("fan/messages/x", "fan/messages"));
  EXPECT_TRUE(TopicMatches("/", "/"));
}

TEST(TopicMatches, SingleLevel) {
  // Examples of section 4.7.1.2.
  EXPECT_TRUE(TopicMatches("sport/tennis/+", "sport/tennis/player1"));
  EXPECT_TRUE(TopicMatches("sport/tennis/+", "sport/tennis/player2"));
  EXPECT_FALSE(TopicMatches("sport/tennis/+", "sport/tennis/player1/ranking"));
  EXPECT_TRUE(TopicMatches("sport/+", "sport/"));
  EXPECT_FALSE(TopicMatches("sport/+", "sport"));
  EXPECT_TRUE(TopicMatches("+/+", "/finance"));
  EXPECT_TRUE(TopicMatches("/+", "/finance"));
  EXPECT_FALSE(TopicMatches("+", "/finance"));
  EXPECT_TRUE(TopicMatches("+", "a"));
  EXPECT_TRUE(TopicMatches("fan/+/status", "fan/fan-0001/status"));
}

TEST(TopicMatches, MultiLevel) {
  // Examples of section 4.7.1.1.
  EXPECT_TRUE(TopicMatches("sport/tennis/player1/#", "sport/tennis/player1"));
  EXPECT_TRUE(TopicMatches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
  EXPECT_TRUE(TopicMatches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
  EXPECT_TRUE(TopicMatches("sport/#", "sport"));
  EXPECT_TRUE(TopicMatches("#", "a/b/c"));
  EXPECT_TRUE(TopicMatches("#", "/"));
  EXPECT_FALSE(TopicMatches("sport/tennis/#", "sport/tenniss"));
  EXPECT_TRUE(TopicMatches("a/+/#", "a/b"));
  EXPECT_FALSE(TopicMatches("a/+/#", "a"));
  EXPECT_TRUE(TopicMatches("+/#", "a"));
}

TEST(TopicMatches, EmptyLevels) {
  EXPECT_TRUE(TopicMatches("a//b", "a//b"));
  EXPECT_TRUE(TopicMatches("a/+/b", "a//b"));
  EXPECT_FALSE(TopicMatches("a/+/b", "a/b"));
}

}  // namespace
}  // namespace aiot::mqtt
