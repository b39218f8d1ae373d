#pragma once

// Loading a configuration document in a test and reading what the loader refused. Header-only;
// depends on base only (src/base/config.h), so base's own tests use it too; a test that includes
// it links aiot_base (every module's library does).
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"

namespace aiot::test_support {

// Loads `yaml` (named `source` in the messages) into what `describe` describes and returns every
// problem the loader reported, each as "key: what (source:line)"; empty when it loaded cleanly.
// Compare the result with the expected list, so a document that loads is a failure too.
inline std::vector<std::string> LoadProblems(std::string_view yaml, std::string_view source,
                                             const config::Describer& describe) {
  try {
    config::LoadYaml(yaml, source, describe);
  } catch (const config::Error& e) {
    std::vector<std::string> out;
    for (const auto& p : e.problems()) out.push_back(p.ToString());
    return out;
  }
  return {};
}

}  // namespace aiot::test_support
