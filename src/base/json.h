#pragma once

// Safe getters for JSON that came from the network (MQTT payloads, HTTP bodies, registry replies).
// nlohmann's `value(key, fallback)` and `get<T>()` throw on a value of the wrong type, so a peer
// sending {"name":5} could turn a 400 into a 500 or crash a handler; these never throw: a missing
// key, a null, a value of the wrong type, or an `obj` that is not an object all read as absent.
//
// Usage:
//   auto body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
//   // "" when absent or not a string:
//   std::string name = json::StringOr(body, "name", "");
//   // std::nullopt when absent or not an integer:
//   if (auto v = json::Int(body, "version")) ...
//   // present but mistyped (a 400):
//   if (json::Has(body, "name") && !json::String(body, "name")) ...

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace aiot::json {

// The member `key` of `obj`, or nullptr when `obj` is not an object or has no such member.
inline const nlohmann::json* Find(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// True when `key` is present and not null.
inline bool Has(const nlohmann::json& obj, std::string_view key) {
  const nlohmann::json* v = Find(obj, key);
  return v != nullptr && !v->is_null();
}

inline std::optional<std::string> String(const nlohmann::json& obj, std::string_view key) {
  const nlohmann::json* v = Find(obj, key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return v->get_ref<const std::string&>();
}

inline std::string StringOr(const nlohmann::json& obj, std::string_view key,
                            std::string_view fallback) {
  const nlohmann::json* v = Find(obj, key);
  if (v == nullptr || !v->is_string()) return std::string(fallback);
  return v->get_ref<const std::string&>();
}

// An integer (a JSON number without a fraction that fits int64).
inline std::optional<int64_t> Int(const nlohmann::json& obj, std::string_view key) {
  const nlohmann::json* v = Find(obj, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return std::nullopt;
    }
    return v->get<int64_t>();
  }
  return std::nullopt;
}

inline std::optional<double> Number(const nlohmann::json& obj, std::string_view key) {
  const nlohmann::json* v = Find(obj, key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

inline std::optional<bool> Bool(const nlohmann::json& obj, std::string_view key) {
  const nlohmann::json* v = Find(obj, key);
  if (v == nullptr || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

}  // namespace aiot::json
