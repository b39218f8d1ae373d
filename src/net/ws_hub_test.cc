#include "net/ws_hub.h"

#include <gtest/gtest.h>

namespace aiot::net {
namespace {

TEST(WsHubTest, PublishWithoutSubscribersIsANoop) {
  WsHub hub;
  hub.Publish("telemetry/fan-0001", "{}");
  EXPECT_EQ(hub.subscribers(), 0u);
}

}  // namespace
}  // namespace aiot::net
