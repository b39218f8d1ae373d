#pragma once

#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace aiot {

// Result<T>: a value or a std::error_code. Expected failures travel as Result; exceptions are kept
// for start-up and configuration boundaries. Modules define an `enum class errc` and make it a
// std::error_code via std::is_error_code_enum (see base/errc.h for the pattern).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like std::expected.
  Result(std::error_code ec) : v_(ec) {}     // NOLINT
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Result(E e) : v_(make_error_code(e)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  std::error_code error() const { return ok() ? std::error_code() : std::get<1>(v_); }

 private:
  std::variant<T, std::error_code> v_;
};

// Status: Result without a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(std::error_code ec) : ec_(ec) {}  // NOLINT
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Status(E e) : ec_(make_error_code(e)) {}  // NOLINT

  static Status Ok() { return Status(); }
  bool ok() const { return !ec_; }
  explicit operator bool() const { return ok(); }
  std::error_code error() const { return ec_; }

 private:
  std::error_code ec_;
};

}  // namespace aiot
