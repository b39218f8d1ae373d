#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace aiot {

// Status: success, or an error code with a message for people (like LevelDB's Status). The code is
// for branching (a module's `enum class errc` made a std::error_code, see base/errc.h); the message
// says what went wrong in this instance ("line 3: temperature is not a number"). The message is
// built only on the error path, so the success path neither allocates nor throws.
//
// Errors are returned, not logged: the place that handles an error (an HTTP handler turning it into
// a 400, a command printing it, a service counting it) logs it if it should be logged.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(std::error_code ec) : ec_(ec) {}  // NOLINT: implicit, so `return errc::timeout;` works.
  Status(std::error_code ec, std::string message) : ec_(ec), message_(std::move(message)) {}
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Status(E e) : ec_(make_error_code(e)) {}  // NOLINT
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Status(E e, std::string message) : ec_(make_error_code(e)), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return !ec_; }
  explicit operator bool() const { return ok(); }

  // The code, for callers that branch on the kind of failure.
  std::error_code code() const { return ec_; }
  std::error_code error() const { return ec_; }  // Same as code(); the name Result also uses.

  // What went wrong: the message given, or the code's own message when none was. Empty when ok.
  std::string message() const { return !message_.empty() || ok() ? message_ : ec_.message(); }

  // "ok", or "<code name>: <message>" (just the code name when there is no message): for logs.
  std::string ToString() const {
    if (ok()) return "ok";
    return message_.empty() ? ec_.message() : ec_.message() + ": " + message_;
  }

  // The same error with "<context>: " in front of its message, as it travels up to a caller that
  // knows more (a file name, a line, a field).
  Status Prefix(std::string_view context) const {
    if (ok()) return *this;
    std::string m(context);
    m += ": ";
    m += message();
    return Status(ec_, std::move(m));
  }

  friend bool operator==(const Status& a, std::error_code b) { return a.ec_ == b; }

 private:
  std::error_code ec_;
  std::string message_;
};

// Result<T>: a value or an error Status. Expected failures travel as Result; exceptions are kept
// for start-up and configuration boundaries.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}       // NOLINT: implicit by design, like std::expected.
  Result(std::error_code ec) : v_(Status(ec)) {}  // NOLINT
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be ok.
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Result(E e) : v_(Status(make_error_code(e))) {}  // NOLINT
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Result(E e, std::string message) : v_(Status(e, std::move(message))) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error code (empty when ok) and the whole error with its message (ok when ok).
  std::error_code error() const { return ok() ? std::error_code() : std::get<1>(v_).code(); }
  Status status() const { return ok() ? Status() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace aiot
