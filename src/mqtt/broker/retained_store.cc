#include "mqtt/broker/retained_store.h"

#include <functional>
#include <map>

#include "mqtt/broker/subscription_index.h"

namespace aiot::mqtt::broker {

struct RetainedStore::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> children;
  MessagePtr msg;
};

RetainedStore::RetainedStore() : root_(std::make_unique<Node>()) {}
RetainedStore::~RetainedStore() = default;

void RetainedStore::Put(MessagePtr msg) {
  std::vector<std::string_view> levels;
  SplitLevels(msg->topic, &levels);
  std::lock_guard lock(mu_);
  if (msg->payload.empty()) {
    std::vector<Node*> path{root_.get()};
    for (std::string_view level : levels) {
      auto it = path.back()->children.find(level);
      if (it == path.back()->children.end()) return;
      path.push_back(it->second.get());
    }
    if (!path.back()->msg) return;
    bytes_ -= path.back()->msg->Bytes();
    --count_;
    path.back()->msg.reset();
    for (size_t i = path.size() - 1; i > 0; --i) {
      if (path[i]->msg || !path[i]->children.empty()) break;
      auto it = path[i - 1]->children.find(levels[i - 1]);
      path[i - 1]->children.erase(it);
    }
    return;
  }
  Node* node = root_.get();
  for (std::string_view level : levels) {
    auto it = node->children.find(level);
    if (it == node->children.end())
      it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
    node = it->second.get();
  }
  if (node->msg) {
    bytes_ -= node->msg->Bytes();
  } else {
    ++count_;
  }
  bytes_ += msg->Bytes();
  node->msg = std::move(msg);
}

void RetainedStore::Match(std::string_view filter, int64_t now_ns,
                          std::vector<MessagePtr>* out) const {
  std::vector<std::string_view> levels;
  SplitLevels(filter, &levels);
  auto add = [&](const Node* n) {
    if (n->msg && !n->msg->Expired(now_ns)) out->push_back(n->msg);
  };
  std::function<void(const Node*)> all = [&](const Node* n) {
    add(n);
    for (const auto& [name, child] : n->children) all(child.get());
  };
  std::function<void(const Node*, size_t)> walk = [&](const Node* n, size_t depth) {
    if (depth == levels.size()) {
      add(n);
      return;
    }
    std::string_view level = levels[depth];
    if (level == "#") {
      if (depth > 0) add(n);  // "a/#" matches "a"
      for (const auto& [name, child] : n->children) {
        if (depth == 0 && !name.empty() && name[0] == '$') continue;  // [MQTT-4.7.2-1]
        all(child.get());
      }
      return;
    }
    if (level == "+") {
      for (const auto& [name, child] : n->children) {
        if (depth == 0 && !name.empty() && name[0] == '$') continue;
        walk(child.get(), depth + 1);
      }
      return;
    }
    auto it = n->children.find(level);
    if (it != n->children.end()) walk(it->second.get(), depth + 1);
  };
  std::lock_guard lock(mu_);
  walk(root_.get(), 0);
}

size_t RetainedStore::Expire(int64_t now_ns) {
  std::lock_guard lock(mu_);
  size_t dropped = 0;
  std::function<bool(Node*)> sweep = [&](Node* n) -> bool {
    if (n->msg && n->msg->Expired(now_ns)) {
      bytes_ -= n->msg->Bytes();
      --count_;
      ++dropped;
      n->msg.reset();
    }
    for (auto it = n->children.begin(); it != n->children.end();) {
      if (sweep(it->second.get())) {
        it = n->children.erase(it);
      } else {
        ++it;
      }
    }
    return !n->msg && n->children.empty();
  };
  sweep(root_.get());
  return dropped;
}

size_t RetainedStore::size() const {
  std::lock_guard lock(mu_);
  return count_;
}

size_t RetainedStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace aiot::mqtt::broker
