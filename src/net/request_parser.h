#pragma once

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace aiot::net {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Prepares a fresh parser with the server's limits. Shared by HttpServer and the fuzz target so
// that both exercise the same parser configuration.
inline void ConfigureRequestParser(RequestParser& parser, size_t max_header_bytes,
                                   size_t max_body_bytes) {
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<size_t>(max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser.body_limit(max_body_bytes);
}

}  // namespace aiot::net
