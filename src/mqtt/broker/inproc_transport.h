#pragma once

#include "mqtt/broker/broker.h"
#include "mqtt/client/transport.h"

namespace aiot::mqtt::broker {

// The in-process transport: an aiot service's mqtt::Client reaches the embedded broker without a
// socket and without encoding. Packets cross as structs (PUBLISH payloads are shared, not
// copied), posted between the client's executor and the broker core the connection lives on
// (chosen round robin). Anonymous: in-process clients are part of this process.
//
//   client = Client::Create(..., broker::MakeInprocFactory(server.broker()));
//
// The Broker must outlive every transport the factory makes and its cores must be running.
TransportFactory MakeInprocFactory(Broker& broker);

}  // namespace aiot::mqtt::broker
