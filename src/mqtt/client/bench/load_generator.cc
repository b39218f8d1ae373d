#include "mqtt/client/bench/load_generator.h"

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "base/errc.h"
#include "mqtt/client/bench/latency_histogram.h"
#include "mqtt/client/client.h"

namespace aiot::mqtt::bench {

namespace asio = boost::asio;

Result<Mode> ParseMode(std::string_view s) {
  if (s == "pairs") return Mode::kPairs;
  if (s == "fanin") return Mode::kFanIn;
  if (s == "fanout") return Mode::kFanOut;
  return errc::invalid_argument;
}

const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kPairs:
      return "pairs";
    case Mode::kFanIn:
      return "fanin";
    case Mode::kFanOut:
      return "fanout";
  }
  return "?";
}

namespace {

constexpr size_t kHeader = 24;  // send time, sequence, publisher index

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Subscriber {
  std::shared_ptr<Client> client;
  LatencyHistogram histogram;  // on the client's strand until the client stopped
  std::atomic<uint64_t> received{0};
  std::atomic<int64_t> last_ns{0};
};

struct Publisher {
  std::shared_ptr<Client> client;
  std::string topic;
  uint32_t index = 0;
  uint32_t subscribers = 0;                   // of `topic`
  std::unique_ptr<asio::steady_timer> timer;  // rate mode
  // On the client's strand:
  uint64_t seq = 0;
  uint64_t issued = 0;
  // Read by the coordinating thread:
  std::atomic<uint64_t> sent{0}, failed{0}, rejected{0}, outstanding{0};
  std::atomic<int64_t> last_done_ns{0};
};

class Load {
 public:
  explicit Load(const LoadOptions& o) : o_(o) {}

  Result<LoadReport> Run() {
    const uint32_t threads =
        o_.threads ? o_.threads : std::max(1u, std::thread::hardware_concurrency());
    for (uint32_t i = 0; i < threads; ++i) {
      ios_.push_back(std::make_unique<asio::io_context>(1));
      guards_.emplace_back(ios_.back()->get_executor());
    }
    for (auto& io : ios_) runners_.emplace_back([&io] { io->run(); });
    auto result = RunClients();
    guards_.clear();
    for (auto& io : ios_) io->stop();
    for (auto& t : runners_) t.join();
    return result;
  }

 private:
  asio::io_context& Io(size_t k) { return *ios_[k % ios_.size()]; }

  MqttClientConfig ClientConfig(const std::string& id) const {
    MqttClientConfig cfg;
    cfg.url = o_.url;
    cfg.tls = o_.tls;
    cfg.client_id = id;
    cfg.protocol_version = o_.protocol;
    cfg.keep_alive_s = 60;
    cfg.session_expiry_s = o_.session_expiry_s;
    cfg.offline_queue_limit = std::max<uint32_t>(o_.window * 4, 100000);
    cfg.max_inflight = 65535;
    cfg.reconnect_min_ms = 200;
    cfg.reconnect_max_ms = 2000;
    return cfg;
  }

  Result<LoadReport> RunClients() {
    std::random_device rd;
    const std::string run = fmt::format("{:08x}", rd());
    const std::string prefix = "aiot-bench/" + run + "/";
    uint32_t topics = o_.topics;
    if (topics == 0) topics = o_.mode == Mode::kFanOut ? 1 : std::max(1u, o_.pubs);
    std::vector<uint32_t> subs_per_topic(topics, 0);
    // Subscribers first, so nothing published is missed.
    if (Status s = StartSubscribers(run, prefix, subs_per_topic); !s.ok()) {
      StopAll();
      return s;
    }
    if (Status s = StartPublishers(run, prefix, subs_per_topic); !s.ok()) {
      StopAll();
      return s;
    }
    const uint64_t expected = PublishAndDrain();
    StopAll();
    return Report(topics, expected);
  }

  std::chrono::milliseconds ConnectTimeout() const {
    return std::chrono::milliseconds(static_cast<int64_t>(o_.connect_timeout_s * 1000));
  }

  // o_.subs subscribers, each on its topic (fan-in: all topics); counts them in `subs_per_topic`.
  Status StartSubscribers(const std::string& run, const std::string& prefix,
                          std::vector<uint32_t>& subs_per_topic) {
    const auto topics = static_cast<uint32_t>(subs_per_topic.size());
    std::atomic<uint32_t> subscribed{0}, refused{0};
    for (uint32_t j = 0; j < o_.subs; ++j) {
      auto s = std::make_unique<Subscriber>();
      Subscriber* sp = s.get();
      s->client = Client::Create(Io(j), ClientConfig(fmt::format("bench-{}-s{}", run, j)));
      std::string filter;
      if (o_.mode == Mode::kFanIn) {
        filter = prefix + "#";
        for (auto& n : subs_per_topic) ++n;
      } else {
        filter = prefix + "t" + std::to_string(j % topics);
        ++subs_per_topic[j % topics];
      }
      s->client->Subscribe(
          filter, SubscribeOptions{.qos = static_cast<QoS>(o_.qos)},
          [sp](const Message& m) {
            const int64_t now = NowNs();
            if (m.payload.size() >= kHeader) {
              int64_t sent_ns;
              std::memcpy(&sent_ns, m.payload.data(), sizeof(sent_ns));
              sp->histogram.Record(static_cast<uint64_t>(std::max<int64_t>(0, now - sent_ns)));
            }
            sp->received.fetch_add(1, std::memory_order_relaxed);
            sp->last_ns.store(now, std::memory_order_relaxed);
          },
          [&subscribed, &refused](ReasonCode rc) { ++(IsError(rc) ? refused : subscribed); });
      s->client->Start();
      subs_.push_back(std::move(s));
    }
    if (!WaitUntil([&] { return subscribed + refused == o_.subs; }, ConnectTimeout()) || refused) {
      return {errc::unavailable, fmt::format("{} of {} subscribers subscribed to {} ({} refused)",
                                             subscribed.load(), o_.subs, o_.url, refused.load())};
    }
    return {};
  }

  // o_.pubs publishers, round robin over the topics; returns once all are connected.
  Status StartPublishers(const std::string& run, const std::string& prefix,
                         const std::vector<uint32_t>& subs_per_topic) {
    const auto topics = static_cast<uint32_t>(subs_per_topic.size());
    for (uint32_t i = 0; i < o_.pubs; ++i) {
      auto p = std::make_unique<Publisher>();
      p->index = i;
      const uint32_t t = i % topics;
      p->topic = prefix + "t" + std::to_string(t);
      p->subscribers = subs_per_topic[t];
      p->client =
          Client::Create(Io(o_.subs + i), ClientConfig(fmt::format("bench-{}-p{}", run, i)));
      p->timer = std::make_unique<asio::steady_timer>(p->client->executor());
      p->client->Start();
      pubs_.push_back(std::move(p));
    }
    const bool connected = WaitUntil(
        [&] {
          return std::all_of(pubs_.begin(), pubs_.end(), [](const auto& p) {
            return p->client->state() == ConnectionState::kConnected;
          });
        },
        ConnectTimeout());
    if (!connected) return {errc::unavailable, "publishers could not connect to " + o_.url};
    return {};
  }

  // Publishes for o_.duration_s, then waits for completions and stragglers (up to o_.drain_s
  // without progress). Returns how many deliveries were expected.
  uint64_t PublishAndDrain() {
    start_ns_ = NowNs();
    end_ns_ = start_ns_ + static_cast<int64_t>(o_.duration_s * 1e9);
    for (auto& p : pubs_) {
      Publisher* pp = p.get();
      asio::post(pp->client->executor(), [this, pp] {
        if (o_.rate > 0) {
          Tick(pp);
        } else {
          for (uint32_t w = 0; w < o_.window; ++w) PublishOne(pp);
        }
      });
    }
    std::this_thread::sleep_until(
        std::chrono::steady_clock::time_point(std::chrono::nanoseconds(end_ns_)));
    const auto drain = std::chrono::milliseconds(static_cast<int64_t>(o_.drain_s * 1000));
    WaitUntil(
        [&] {
          return std::all_of(pubs_.begin(), pubs_.end(),
                             [](const auto& p) { return p->outstanding.load() == 0; });
        },
        drain);
    uint64_t expected = 0;
    for (auto& p : pubs_) expected += p->sent.load() * p->subscribers;
    uint64_t last = 0;
    auto last_progress = std::chrono::steady_clock::now();
    while (true) {
      const uint64_t got = Received();
      if (got >= expected) break;
      if (got != last) {
        last = got;
        last_progress = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_progress > drain) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return expected;
  }

  LoadReport Report(uint32_t topics, uint64_t expected) const {
    LoadReport r;
    r.url = o_.url;
    r.options = o_;
    r.topics = topics;
    r.expected = expected;
    int64_t last_done = start_ns_, last_recv = start_ns_;
    for (auto& p : pubs_) {
      r.sent += p->sent;
      r.failed += p->failed;
      r.rejected += p->rejected;
      last_done = std::max(last_done, p->last_done_ns.load());
    }
    LatencyHistogram h;
    for (auto& s : subs_) {
      r.received += s->received;
      last_recv = std::max(last_recv, s->last_ns.load());
      h.Merge(s->histogram);
    }
    r.publish_s = std::max(1e-9, (last_done - start_ns_) / 1e9);
    r.receive_s = std::max(1e-9, (last_recv - start_ns_) / 1e9);
    r.send_rate = r.sent / r.publish_s;
    r.recv_rate = r.received ? r.received / r.receive_s : 0;
    r.loss = expected ? 1.0 - static_cast<double>(std::min(r.received, expected)) / expected : 0;
    r.p50_ns = h.Percentile(50);
    r.p99_ns = h.Percentile(99);
    r.p999_ns = h.Percentile(99.9);
    r.max_ns = h.max();
    r.mean_ns = h.mean();
    return r;
  }

  uint64_t Received() const {
    uint64_t n = 0;
    for (auto& s : subs_) n += s->received.load(std::memory_order_relaxed);
    return n;
  }

  // On the publisher's strand.
  void PublishOne(Publisher* p) {
    const int64_t now = NowNs();
    if (now >= end_ns_) return;
    std::string payload(std::max<size_t>(o_.size, kHeader), 'x');
    const uint64_t seq = p->seq++;
    std::memcpy(payload.data(), &now, sizeof(now));
    std::memcpy(payload.data() + 8, &seq, sizeof(seq));
    std::memcpy(payload.data() + 16, &p->index, sizeof(p->index));
    p->outstanding.fetch_add(1);
    ++p->issued;
    Status s = p->client->Publish(
        p->topic, SharedBytes(std::move(payload)), PublishOptions{.qos = static_cast<QoS>(o_.qos)},
        [this, p](std::error_code ec) {
          (ec ? p->failed : p->sent).fetch_add(1, std::memory_order_relaxed);
          p->last_done_ns.store(NowNs(), std::memory_order_relaxed);
          p->outstanding.fetch_sub(1);
          if (o_.rate <= 0) PublishOne(p);
        });
    if (!s.ok()) {
      p->outstanding.fetch_sub(1);
      p->rejected.fetch_add(1);
    }
  }

  // Rate mode: publish what is due since the start, then sleep a little.
  void Tick(Publisher* p) {
    const int64_t now = NowNs();
    if (now >= end_ns_) return;
    const auto due = static_cast<uint64_t>(o_.rate * (now - start_ns_) / 1e9) + 1;
    while (p->issued < due && p->outstanding.load() < std::max<uint64_t>(o_.window, 1) * 64) {
      PublishOne(p);
    }
    if (p->issued < due) p->issued = due;  // cannot keep up: those count as not sent
    const auto period =
        std::chrono::nanoseconds(std::max<int64_t>(1'000'000, static_cast<int64_t>(1e9 / o_.rate)));
    p->timer->expires_after(period);
    p->timer->async_wait([this, p](boost::system::error_code ec) {
      if (!ec) Tick(p);
    });
  }

  void StopAll() {
    std::atomic<size_t> stopped{0};
    size_t total = 0;
    for (auto& p : pubs_) {
      asio::post(p->client->executor(), [t = p->timer.get()] { t->cancel(); });
    }
    auto stop = [&](const std::shared_ptr<Client>& c) {
      ++total;
      c->Stop([&stopped] { ++stopped; });
    };
    for (auto& p : pubs_) stop(p->client);
    for (auto& s : subs_) stop(s->client);
    WaitUntil([&] { return stopped.load() == total; }, std::chrono::seconds(10));
  }

  static bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  const LoadOptions o_;
  std::vector<std::unique_ptr<asio::io_context>> ios_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> runners_;
  std::vector<std::unique_ptr<Subscriber>> subs_;
  std::vector<std::unique_ptr<Publisher>> pubs_;
  int64_t start_ns_ = 0;
  int64_t end_ns_ = 0;
};

std::string Ms(uint64_t ns) { return fmt::format("{:.3f}", ns / 1e6); }

}  // namespace

Result<LoadReport> RunLoad(const LoadOptions& options) {
  if (options.protocol != 4 && options.protocol != 5)
    return {errc::invalid_argument, "protocol must be 4 (3.1.1) or 5"};
  if (options.qos > 2) return {errc::invalid_argument, "QoS must be 0, 1 or 2"};
  if (options.pubs == 0) return {errc::invalid_argument, "at least one publisher is needed"};
  if (options.duration_s <= 0) return {errc::invalid_argument, "duration must be positive"};
  Load load(options);
  return load.Run();
}

std::string FormatTable(const std::vector<LoadReport>& reports) {
  std::string out = fmt::format(
      "{:<28} {:>6} {:>5} {:>5} {:>3} {:>6} {:>7} {:>11} {:>11} {:>7} {:>8} {:>8} {:>9} {:>8} "
      "{:>6}\n",
      "broker", "mode", "pubs", "subs", "qos", "size", "rate", "sent/s", "recv/s", "loss%",
      "p50 ms", "p99 ms", "p99.9 ms", "max ms", "ratio");
  const double base = reports.empty() ? 0 : reports[0].recv_rate;
  for (const auto& r : reports) {
    const auto& o = r.options;
    out += fmt::format(
        "{:<28} {:>6} {:>5} {:>5} {:>3} {:>6} {:>7} {:>11.0f} {:>11.0f} {:>7.3f} {:>8} {:>8} {:>9} "
        "{:>8} {:>6.2f}\n",
        r.url, ModeName(o.mode), o.pubs, o.subs, o.qos, o.size,
        o.rate > 0 ? fmt::format("{:.0f}", o.rate) : "max", r.send_rate, r.recv_rate, r.loss * 100,
        Ms(r.p50_ns), Ms(r.p99_ns), Ms(r.p999_ns), Ms(r.max_ns),
        base > 0 ? r.recv_rate / base : 0.0);
  }
  return out;
}

std::string FormatJson(const std::vector<LoadReport>& reports) {
  std::string out = "[";
  for (size_t i = 0; i < reports.size(); ++i) {
    const auto& r = reports[i];
    const auto& o = r.options;
    out += fmt::format(
        "{}{{\"url\":\"{}\",\"mode\":\"{}\",\"pubs\":{},\"subs\":{},\"qos\":{},\"size\":{},"
        "\"rate\":{},\"duration_s\":{},\"topics\":{},\"protocol\":{},\"sent\":{},\"failed\":{},"
        "\"rejected\":{},\"expected\":{},\"received\":{},\"send_rate\":{:.1f},"
        "\"recv_rate\":{:.1f},\"loss\":{:.6f},\"latency_ns\":{{\"p50\":{},\"p99\":{},"
        "\"p99_9\":{},\"max\":{},\"mean\":{:.0f}}}}}",
        i ? "," : "", r.url, ModeName(o.mode), o.pubs, o.subs, o.qos, o.size, o.rate, o.duration_s,
        r.topics, o.protocol, r.sent, r.failed, r.rejected, r.expected, r.received, r.send_rate,
        r.recv_rate, r.loss, r.p50_ns, r.p99_ns, r.p999_ns, r.max_ns, r.mean_ns);
  }
  return out + "]\n";
}

}  // namespace aiot::mqtt::bench
