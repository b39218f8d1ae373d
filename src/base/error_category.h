#pragma once

#include <string>
#include <system_error>

namespace aiot {

// A std::error_category by its name and a function naming each code: the one implementation of
// the categories of the modules' error enums (aiot::errc, registry::errc, MQTT reason codes). A
// module's category is a function-local static:
//   const std::error_category& registry_category() {
//     static const NamedCategory category("registry", [](int ev) { return ErrcName(errc(ev)); });
//     return category;
//   }
class NamedCategory final : public std::error_category {
 public:
  using CodeName = const char* (*)(int);
  NamedCategory(const char* name, CodeName code_name) : name_(name), code_name_(code_name) {}
  const char* name() const noexcept override { return name_; }
  std::string message(int ev) const override { return code_name_(ev); }

 private:
  const char* name_;
  CodeName code_name_;
};

}  // namespace aiot
