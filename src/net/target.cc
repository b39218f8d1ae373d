#include "net/target.h"

namespace aiot::net {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

}  // namespace

bool SplitTarget(std::string_view target, std::string_view& path, std::string_view& query) {
  if (target.empty()) return false;
  if (target[0] != '/') {
    // absolute-form: scheme "://" authority path-abempty
    size_t skip = 0;
    if (StartsWithNoCase(target, "http://")) {
      skip = 7;
    } else if (StartsWithNoCase(target, "https://")) {
      skip = 8;
    } else {
      return false;
    }
    size_t slash = target.find_first_of("/?", skip);
    if (slash == skip) return false;  // no authority
    if (slash == std::string_view::npos) {
      target = "/";
    } else if (target[slash] == '?') {
      // "http://host?q" has an empty path; treat as "/".
      path = "/";
      query = target.substr(slash + 1);
      for (char c : query) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') return false;
      }
      return true;
    } else {
      target = target.substr(slash);
    }
  }
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') return false;
  }
  size_t q = target.find('?');
  if (q == std::string_view::npos) {
    path = target;
    query = {};
  } else {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  return true;
}

bool PercentDecode(std::string_view in, std::string& out, bool plus_as_space) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return false;
      out.push_back(d);
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

bool ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>& out) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string key;
    std::string value;
    if (!PercentDecode(part.substr(0, eq), key, true)) return false;
    if (eq != std::string_view::npos && !PercentDecode(part.substr(eq + 1), value, true)) {
      return false;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

}  // namespace aiot::net
