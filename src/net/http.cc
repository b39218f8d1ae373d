#include "net/http.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

#include "base/errc.h"
#include "net/target.h"

namespace aiot::net {

bool Principal::HasRole(std::string_view role) const {
  for (const auto& r : roles) {
    if (r == role) return true;
  }
  return false;
}

bool Request::Reset(http::request<http::string_body>&& message,
                    const asio::ip::tcp::endpoint& remote) {
  message_ = std::move(message);
  remote_ = remote;
  query_.clear();
  principal_.reset();
  path_ = {};
  query_string_ = {};
  std::string_view target = message_.target();
  if (!SplitTarget(target, path_, query_string_)) return false;
  if (!query_string_.empty() && !ParseQuery(query_string_, query_)) return false;
  return true;
}

std::optional<std::string_view> Request::query(std::string_view key) const {
  for (const auto& [k, v] : query_) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

std::string_view Request::param(std::string_view name) const {
  for (const auto& [k, v] : params_) {
    if (k == name) return v;
  }
  return {};
}

std::string_view Request::header(http::field f) const {
  auto it = message_.find(f);
  return it == message_.end() ? std::string_view() : std::string_view(it->value());
}

std::string_view Request::header(std::string_view name) const {
  auto it = message_.find(name);
  return it == message_.end() ? std::string_view() : std::string_view(it->value());
}

Result<nlohmann::json> Request::Json() const {
  auto j = nlohmann::json::parse(message_.body(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return errc::parse_error;
  return j;
}

FileBody::~FileBody() {
  if (fd >= 0) ::close(fd);
}

Response JsonResponse(http::status status, const nlohmann::json& body) {
  return Response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

Response ErrorResponse(http::status status, std::string_view code, std::string_view message) {
  nlohmann::json j = {{"error", {{"code", code}, {"message", message}}}};
  return JsonResponse(status, j);
}

namespace {

// True when `etag` appears in an If-None-Match list (weak comparison) or the list is "*".
bool EtagListMatches(std::string_view list, std::string_view etag) {
  auto strip_weak = [](std::string_view t) {
    if (t.size() >= 2 && t[0] == 'W' && t[1] == '/') t.remove_prefix(2);
    return t;
  };
  std::string_view want = strip_weak(etag);
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == "*") return true;
    if (strip_weak(item) == want) return true;
  }
  return false;
}

bool ParseU64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

enum class RangeResult { kNone, kRange, kUnsatisfiable };

// Parses a single "bytes=a-b" / "bytes=a-" / "bytes=-n" range. Anything else (multiple ranges,
// other units, garbage) is ignored, which RFC 9110 allows.
RangeResult ParseRange(std::string_view h, uint64_t size, uint64_t& first, uint64_t& last) {
  constexpr std::string_view kPrefix = "bytes=";
  if (h.substr(0, kPrefix.size()) != kPrefix) return RangeResult::kNone;
  h.remove_prefix(kPrefix.size());
  if (h.find(',') != std::string_view::npos) return RangeResult::kNone;
  size_t dash = h.find('-');
  if (dash == std::string_view::npos) return RangeResult::kNone;
  std::string_view a = h.substr(0, dash);
  std::string_view b = h.substr(dash + 1);
  if (a.empty()) {
    uint64_t n = 0;
    if (!ParseU64(b, n)) return RangeResult::kNone;
    if (n == 0 || size == 0) return RangeResult::kUnsatisfiable;
    first = n >= size ? 0 : size - n;
    last = size - 1;
    return RangeResult::kRange;
  }
  if (!ParseU64(a, first)) return RangeResult::kNone;
  if (b.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else if (!ParseU64(b, last) || last < first) {
    return RangeResult::kNone;
  }
  if (first >= size) return RangeResult::kUnsatisfiable;
  if (last >= size) last = size - 1;
  return RangeResult::kRange;
}

}  // namespace

Response ServeFile(const Request& request, const std::string& path, std::string_view content_type,
                   std::string_view etag) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrorResponse(http::status::not_found, "not_found", "file not found");
  auto file = std::make_unique<FileBody>();
  file->fd = fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return ErrorResponse(http::status::not_found, "not_found", "file not found");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::string tag(etag);
  if (tag.empty()) {
    tag = "W/\"" + std::to_string(size) + "-" + std::to_string(st.st_mtim.tv_sec) + "." +
          std::to_string(st.st_mtim.tv_nsec) + "\"";
  }

  Response r;
  r.content_type = std::string(content_type);
  r.Header("ETag", tag);
  r.Header("Accept-Ranges", "bytes");

  std::string_view inm = request.header(http::field::if_none_match);
  if (!inm.empty() && EtagListMatches(inm, tag)) {
    r.status = http::status::not_modified;
    return r;
  }

  uint64_t first = 0;
  uint64_t last = size == 0 ? 0 : size - 1;
  std::string_view range = request.header(http::field::range);
  std::string_view if_range = request.header(http::field::if_range);
  bool range_allowed = if_range.empty() || (if_range == tag && tag.substr(0, 2) != "W/");
  RangeResult rr = RangeResult::kNone;
  if (!range.empty() && range_allowed) rr = ParseRange(range, size, first, last);
  if (rr == RangeResult::kUnsatisfiable) {
    Response e = ErrorResponse(http::status::range_not_satisfiable, "range_not_satisfiable",
                               "requested range is outside the file");
    e.Header("Content-Range", "bytes */" + std::to_string(size));
    return e;
  }
  if (rr == RangeResult::kRange) {
    r.status = http::status::partial_content;
    r.Header("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" +
                                  std::to_string(size));
    file->offset = first;
    file->length = last - first + 1;
  } else {
    file->offset = 0;
    file->length = size;
  }
  r.file = std::move(file);
  return r;
}

}  // namespace aiot::net
