// libFuzzer target for configuration files (config::LoadYaml, with sections and lists of them): any
// text either loads or is refused with config::Error, nothing else escapes (no YAML::Exception, no
// std::out_of_range from a number, no crash). A document that loads prints (ToYaml) as one that
// loads again to the same values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/config_list.h"

namespace {

// Every kind of field the visitor knows, nested, as module configs use them.
struct Limits {
  uint16_t port = 1883;
  int32_t offset = -5;
  uint64_t bytes = 1 << 20;
  double ratio = 0.5;
  float gain = 1.5f;
};
struct Root {
  bool enabled = true;
  std::string listen = "127.0.0.1:8080";
  std::vector<std::string> topics = {"fan/messages"};
  std::map<std::string, std::string> tokens;
  uint32_t threads = 0;
  Limits limits;
  std::vector<Limits> items;  // a list of sections
};

void Describe(aiot::config::Visitor& v, Limits& c) {
  v.Field("port", c.port, "a port");
  v.Field("offset", c.offset, "a signed number");
  v.Field("bytes", c.bytes, "an unsigned 64-bit number");
  v.Field("ratio", c.ratio, "a double");
  v.Field("gain", c.gain, "a float");
}
void Describe(aiot::config::Visitor& v, Root& c) {
  v.Field("enabled", c.enabled, "a flag");
  v.Field("listen", c.listen, "a string");
  v.Field("topics", c.topics, "a list");
  v.Field("tokens", c.tokens, "a map");
  v.Field("threads", c.threads, "an unsigned number");
  aiot::config::Section(v, "limits", c.limits, "a section");
  aiot::config::Sections(v, "items", c.items, "a list of sections");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Root cfg;
  try {
    aiot::config::LoadYaml(text, "<fuzz>", aiot::config::DescriberFor(cfg));
  } catch (const aiot::config::Error&) {
    return 0;  // refused with a message: the expected outcome for bad input
  }
  std::string printed = aiot::config::ToYaml(aiot::config::DescriberFor(cfg));
  Root again;
  try {
    aiot::config::LoadYaml(printed, "<printed>", aiot::config::DescriberFor(again));
  } catch (const aiot::config::Error&) {
    std::abort();  // what we print must load
  }
  if (aiot::config::ToYaml(aiot::config::DescriberFor(again)) != printed) std::abort();
  return 0;
}
