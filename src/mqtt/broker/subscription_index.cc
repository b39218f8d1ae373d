#include "mqtt/broker/subscription_index.h"

#include <algorithm>
#include <mutex>

namespace aiot::mqtt::broker {

namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

struct SubscriptionIndex::SharedGroup {
  std::string name;
  std::vector<Subscriber> members;
  mutable std::atomic<uint32_t> next{0};
};

struct SubscriptionIndex::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
  std::vector<Subscriber> subs;
  std::vector<std::unique_ptr<SharedGroup>> shared;

  bool Empty() const { return children.empty() && subs.empty() && shared.empty(); }
};

void SplitLevels(std::string_view topic, std::vector<std::string_view>* levels) {
  levels->clear();
  size_t start = 0;
  while (true) {
    size_t slash = topic.find('/', start);
    if (slash == std::string_view::npos) {
      levels->push_back(topic.substr(start));
      return;
    }
    levels->push_back(topic.substr(start, slash - start));
    start = slash + 1;
  }
}

bool ParseSharedFilter(std::string_view filter, std::string_view* group, std::string_view* inner) {
  constexpr std::string_view kPrefix = "$share/";
  if (filter.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view rest = filter.substr(kPrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return false;
  *group = rest.substr(0, slash);
  *inner = rest.substr(slash + 1);
  return true;
}

bool FilterMatches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#'))
    return false;
  size_t f = 0, t = 0;
  while (true) {
    size_t fe = filter.find('/', f);
    std::string_view fl =
        filter.substr(f, fe == std::string_view::npos ? std::string_view::npos : fe - f);
    if (fl == "#") return true;
    if (t == std::string_view::npos) return false;  // topic exhausted, filter continues
    size_t te = topic.find('/', t);
    std::string_view tl =
        topic.substr(t, te == std::string_view::npos ? std::string_view::npos : te - t);
    if (fl != "+" && fl != tl) return false;
    if (fe == std::string_view::npos) return te == std::string_view::npos;
    f = fe + 1;
    if (te == std::string_view::npos) {
      // "a" matches "a/#": the parent level is included by a trailing '#'.
      return filter.substr(f) == "#";
    }
    t = te + 1;
  }
}

SubscriptionIndex::SubscriptionIndex() : root_(std::make_unique<Node>()) {}
SubscriptionIndex::~SubscriptionIndex() = default;

bool SubscriptionIndex::Add(SessionKey session, uint32_t core, std::string_view filter,
                            const SubscriptionOptions& options) {
  std::string_view group, inner = filter;
  bool is_shared = ParseSharedFilter(filter, &group, &inner);
  std::vector<std::string_view> levels;
  SplitLevels(inner, &levels);
  std::unique_lock lock(mu_);
  Node* node = root_.get();
  for (std::string_view level : levels) {
    auto it = node->children.find(level);
    if (it == node->children.end())
      it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
    node = it->second.get();
  }
  Subscriber sub{session, core, options, is_shared};
  std::vector<Subscriber>* list = &node->subs;
  if (is_shared) {
    auto g = std::find_if(node->shared.begin(), node->shared.end(),
                          [&](const auto& sg) { return sg->name == group; });
    if (g == node->shared.end()) {
      node->shared.push_back(std::make_unique<SharedGroup>());
      node->shared.back()->name = std::string(group);
      g = node->shared.end() - 1;
    }
    list = &(*g)->members;
  }
  for (Subscriber& s : *list) {
    if (s.session == session) {
      s = sub;
      return true;
    }
  }
  list->push_back(sub);
  count_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool SubscriptionIndex::Remove(SessionKey session, std::string_view filter) {
  std::string_view group, inner = filter;
  bool is_shared = ParseSharedFilter(filter, &group, &inner);
  std::vector<std::string_view> levels;
  SplitLevels(inner, &levels);
  std::unique_lock lock(mu_);
  std::vector<Node*> path{root_.get()};
  for (std::string_view level : levels) {
    auto it = path.back()->children.find(level);
    if (it == path.back()->children.end()) return false;
    path.push_back(it->second.get());
  }
  Node* node = path.back();
  bool removed = false;
  auto erase_from = [&](std::vector<Subscriber>& list) {
    auto it = std::find_if(list.begin(), list.end(),
                           [&](const Subscriber& s) { return s.session == session; });
    if (it == list.end()) return;
    list.erase(it);
    removed = true;
  };
  if (is_shared) {
    auto g = std::find_if(node->shared.begin(), node->shared.end(),
                          [&](const auto& sg) { return sg->name == group; });
    if (g == node->shared.end()) return false;
    erase_from((*g)->members);
    if ((*g)->members.empty()) node->shared.erase(g);
  } else {
    erase_from(node->subs);
  }
  if (!removed) return false;
  count_.fetch_sub(1, std::memory_order_relaxed);
  // Prune empty nodes bottom-up.
  for (size_t i = path.size() - 1; i > 0; --i) {
    if (!path[i]->Empty()) break;
    path[i - 1]->children.erase(std::string(levels[i - 1]));
  }
  return true;
}

void SubscriptionIndex::Rehome(SessionKey session, const std::vector<std::string>& filters,
                               uint32_t core) {
  std::vector<std::string_view> levels;
  std::unique_lock lock(mu_);
  for (const std::string& filter : filters) {
    std::string_view group, inner = filter;
    bool is_shared = ParseSharedFilter(filter, &group, &inner);
    SplitLevels(inner, &levels);
    Node* node = root_.get();
    for (std::string_view level : levels) {
      auto it = node->children.find(level);
      if (it == node->children.end()) {
        node = nullptr;
        break;
      }
      node = it->second.get();
    }
    if (node == nullptr) continue;
    auto fix = [&](std::vector<Subscriber>& list) {
      for (Subscriber& s : list)
        if (s.session == session) s.core = core;
    };
    if (is_shared) {
      for (auto& g : node->shared)
        if (g->name == group) fix(g->members);
    } else {
      fix(node->subs);
    }
  }
}

void SubscriptionIndex::MatchNode(const Node* node, const std::vector<std::string_view>& levels,
                                  size_t depth, std::vector<Subscriber>* out) {
  auto emit = [out](const Node* n) {
    out->insert(out->end(), n->subs.begin(), n->subs.end());
    for (const auto& g : n->shared) {
      if (g->members.empty()) continue;
      uint32_t i = g->next.fetch_add(1, std::memory_order_relaxed);
      out->push_back(g->members[i % g->members.size()]);
    }
  };
  // [MQTT-4.7.2-1]: wildcards at the first level do not match topics starting with '$'.
  bool dollar = depth == 0 && !levels[0].empty() && levels[0][0] == '$';
  if (!dollar) {
    auto hash = node->children.find(std::string_view("#"));
    if (hash != node->children.end()) emit(hash->second.get());
  }
  if (depth == levels.size()) {
    emit(node);
    return;
  }
  auto exact = node->children.find(levels[depth]);
  if (exact != node->children.end()) MatchNode(exact->second.get(), levels, depth + 1, out);
  if (!dollar) {
    auto plus = node->children.find(std::string_view("+"));
    if (plus != node->children.end()) MatchNode(plus->second.get(), levels, depth + 1, out);
  }
}

void SubscriptionIndex::Match(std::string_view topic, std::vector<Subscriber>* out) const {
  thread_local std::vector<std::string_view> levels;
  SplitLevels(topic, &levels);
  std::shared_lock lock(mu_);
  MatchNode(root_.get(), levels, 0, out);
}

}  // namespace aiot::mqtt::broker
