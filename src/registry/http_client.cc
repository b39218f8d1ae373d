#include "registry/http_client.h"

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "base/errc.h"

namespace aiot::registry {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct HttpClient::Impl {
  std::string host, port, token;
  std::chrono::milliseconds timeout;
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  bool valid = false;
};

HttpClient::HttpClient(std::string base_url, std::string token, std::chrono::milliseconds timeout)
    : impl_(new Impl) {
  impl_->token = std::move(token);
  impl_->timeout = timeout;
  constexpr std::string_view kScheme = "http://";
  std::string_view url = base_url;
  if (url.substr(0, kScheme.size()) != kScheme) return;
  url.remove_prefix(kScheme.size());
  url = url.substr(0, url.find('/'));
  size_t colon = url.rfind(':');
  impl_->host = std::string(url.substr(0, colon));
  impl_->port = colon == std::string_view::npos ? "80" : std::string(url.substr(colon + 1));
  impl_->valid = !impl_->host.empty() && !impl_->port.empty();
}

HttpClient::~HttpClient() { delete impl_; }

std::string HttpClient::Escape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<HttpReply> HttpClient::Call(std::string_view method, std::string_view target,
                                   std::string body,
                                   const std::map<std::string, std::string>& headers,
                                   std::string_view content_type) {
  if (!impl_->valid) return errc::invalid_argument;
  http::request<http::string_body> req;
  req.method(http::string_to_verb(method));
  req.target(target);
  req.version(11);
  req.set(http::field::host, impl_->host + ":" + impl_->port);
  req.set(http::field::user_agent, "aiot-cli");
  if (!impl_->token.empty()) req.set(http::field::authorization, "Bearer " + impl_->token);
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty()) req.set(http::field::content_type, content_type);
  req.body() = std::move(body);
  req.prepare_payload();

  for (int attempt = 0; attempt < 2; ++attempt) {
    beast::error_code ec;
    bool fresh = false;
    if (!impl_->stream) {
      asio::ip::tcp::resolver resolver(impl_->io);
      auto endpoints = resolver.resolve(impl_->host, impl_->port, ec);
      if (ec) return errc::unavailable;
      impl_->stream.emplace(impl_->io);
      impl_->stream->expires_after(impl_->timeout);
      impl_->stream->connect(endpoints, ec);
      if (ec) {
        impl_->stream.reset();
        return ec == beast::error::timeout ? errc::timeout : errc::unavailable;
      }
      fresh = true;
    }
    impl_->stream->expires_after(impl_->timeout);
    http::write(*impl_->stream, req, ec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    parser.skip(req.method() == http::verb::head);
    if (!ec) http::read(*impl_->stream, buffer, parser, ec);
    if (ec) {
      impl_->stream.reset();
      // A kept-alive connection the server closed meanwhile: retry once on a new one.
      if (!fresh && (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                     ec == asio::error::broken_pipe || ec == asio::error::eof)) {
        continue;
      }
      return ec == beast::error::timeout ? errc::timeout : errc::io_error;
    }
    auto& res = parser.get();
    HttpReply reply;
    reply.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers[name] = std::string(f.value());
    }
    reply.body = std::move(res.body());
    if (!res.keep_alive()) impl_->stream.reset();
    return reply;
  }
  return errc::io_error;
}

}  // namespace aiot::registry
