#pragma once

// Lists of sections in the typed configuration (base/config.h): a key whose value is a YAML
// sequence of maps, each item a section of the same struct with its own Describe and Validate:
//
//   struct BrokerConfig { std::vector<BridgeConfig> bridges; };
//   void Describe(config::Visitor& v, BrokerConfig& c) {
//     config::Sections(v, "bridges", c.bridges, "bridges to remote brokers");
//   }
//
//   bridges:
//     - name: central
//       url: mqtt://central:1883
//     - name: backup
//       url: mqtt://backup:1883
//
// The same loader as for sections: each item's keys are read with their lines, unknown keys in an
// item are refused with the nearest valid one, and each item's Validate runs with its keys named
// `bridges[0].url`, `bridges[1].name`, ... (0-based) and the line of the value, or of the item
// when the key is not in the file. A list in the file replaces the default one. Overrides:
// `--set broker.bridges=[{name: a, url: ...}]` and AIOT_BROKER_BRIDGES replace the whole list (YAML
// flow text); `--set broker.bridges[1].url=...` sets one key of an item, and the index one past
// the end appends an item. `aiot config defaults` prints an empty list with a default item's keys
// and comments as commented-out YAML. What involves several items (names that must differ) is
// the enclosing section's Validate.
//
// Sections() hands the list to the visitor's List() (config.h), which every visitor implements.
#include <cstddef>
#include <string_view>
#include <vector>

#include "base/config.h"

namespace aiot::config {

// A list of sections, for the visitors.
class SectionList {
 public:
  virtual ~SectionList() = default;
  virtual size_t size() const = 0;
  // Default-constructed items are added at the end; extra ones removed from it.
  virtual void Resize(size_t n) = 0;
  // Describes item `i` to `v`, with its Validate (CheckWith).
  virtual void Item(Visitor& v, size_t i) = 0;
  // Describes a default-constructed item (for the commented example of `aiot config defaults`).
  virtual void DefaultItem(Visitor& v) = 0;
};

// Describes the list of sections `key` holding `items`.
template <typename T>
void Sections(Visitor& v, std::string_view key, std::vector<T>& items, std::string_view help) {
  class Items final : public SectionList {
   public:
    explicit Items(std::vector<T>& items) : items_(items) {}
    size_t size() const override { return items_.size(); }
    void Resize(size_t n) override { items_.resize(n); }
    void Item(Visitor& v, size_t i) override {
      Describe(v, items_[i]);
      CheckWith(v, items_[i]);
    }
    void DefaultItem(Visitor& v) override {
      T item{};
      Describe(v, item);
    }

   private:
    std::vector<T>& items_;
  };
  Items list(items);
  v.List(key, list, help);
}

}  // namespace aiot::config
