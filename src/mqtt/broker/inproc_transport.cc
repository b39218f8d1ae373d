#include "mqtt/broker/inproc_transport.h"

#include <boost/asio/post.hpp>

#include "base/errc.h"

namespace aiot::mqtt::broker {

namespace {

// State shared by the client side (its executor) and the broker side (one broker core). Fields
// are grouped by the thread that owns them; no field is touched from both.
struct InprocLink final : Link, std::enable_shared_from_this<InprocLink> {
  InprocLink(Broker& b, boost::asio::any_io_executor ex) : broker(b), executor(std::move(ex)) {}

  // Broker -> client. Broker core.
  void Send(const Packet& packet, uint8_t) override {
    if (broker_closed) return;
    auto p = std::make_shared<Packet>(packet);  // the broker reuses its PUBLISH scratch
    boost::asio::post(executor, [self = shared_from_this(), p] {
      if (self->client_closed || self->handler == nullptr) return;
      self->handler->OnTransportPacket(std::move(*p));
    });
  }
  // The platform's own clients: no authentication, no ACL.
  bool Trusted() const override { return true; }

  // The broker ends the connection. Broker core.
  void Close() override {
    if (broker_closed) return;
    broker.Post(core, [self = shared_from_this()] { self->FinishOnBroker({}); });
  }

  void FinishOnBroker(std::error_code ec) {
    if (broker_closed) return;
    broker_closed = true;
    if (conn != nullptr) {
      ServerConnection* c = conn;
      conn = nullptr;
      c->OnClosed();
    }
    boost::asio::post(executor, [self = shared_from_this(), ec] { self->DeliverClosed(ec); });
  }
  void DeliverClosed(std::error_code ec) {  // client executor
    if (client_closed) return;
    client_closed = true;
    TransportHandler* h = handler;
    handler = nullptr;
    if (h != nullptr) h->OnTransportClosed(ec);
  }

  Broker& broker;
  boost::asio::any_io_executor executor;
  uint32_t core = 0;
  // Broker core only.
  ServerConnection* conn = nullptr;
  bool broker_closed = false;
  // Client executor only.
  TransportHandler* handler = nullptr;
  bool client_closed = false;
};

class InprocTransport final : public Transport {
 public:
  InprocTransport(Broker& broker, boost::asio::any_io_executor executor)
      : link_(std::make_shared<InprocLink>(broker, std::move(executor))) {
    link_->core = broker.NextCore();
  }
  ~InprocTransport() override {
    // The client drops us after OnTransportClosed, which comes after the broker side finished:
    // then there is nothing to tell the broker (which may already be gone after a shutdown).
    // Otherwise make sure the broker side is gone too.
    auto link = link_;
    link->handler = nullptr;
    if (link->client_closed) return;
    link->client_closed = true;
    link->broker.Post(link->core, [link] { link->FinishOnBroker({}); });
  }

  void Connect(TransportHandler* handler) override {
    link_->handler = handler;
    auto link = link_;
    link->broker.Post(link->core, [link] {
      link->conn = link->broker.Accept(link->core, *link, /*anonymous_allowed=*/true);
      if (link->conn == nullptr) {
        link->broker_closed = true;
        boost::asio::post(link->executor, [link] {
          link->DeliverClosed(make_error_code(ReasonCode::kServerBusy));
        });
        return;
      }
      boost::asio::post(link->executor, [link] {
        if (!link->client_closed && link->handler != nullptr) link->handler->OnTransportConnected();
      });
    });
  }

  void Send(Packet packet) override {
    if (link_->client_closed) return;
    auto link = link_;
    auto p = std::make_shared<Packet>(std::move(packet));
    link->broker.Post(link->core, [link, p] {
      if (link->conn != nullptr && !link->broker_closed) link->conn->OnPacket(std::move(*p));
    });
  }

  void Close() override {
    if (link_->client_closed) return;  // the broker side already finished
    auto link = link_;
    link->broker.Post(link->core, [link] { link->FinishOnBroker({}); });
  }

 private:
  std::shared_ptr<InprocLink> link_;
};

}  // namespace

TransportFactory MakeInprocFactory(Broker& broker) {
  return [&broker](const boost::asio::any_io_executor& executor,
                   const TransportOptions&) -> std::unique_ptr<Transport> {
    return std::make_unique<InprocTransport>(broker, executor);
  };
}

}  // namespace aiot::mqtt::broker
