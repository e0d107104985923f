// Registry: policies, cost models, executors, trace formats and catalog entries are found by
// name. Implementations register a factory at static-initialization time with
// KVLAB_REGISTER(...) in their own .cc file, so adding a policy touches one folder; the
// libraries holding them are linked whole (see CMakeLists.txt) so that no registration is
// dropped by the linker. Asking for an unknown name throws InputError listing the known ones.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/suggest.h"

namespace kvlab {

template <typename Base, typename Config>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<Base>(const Config&)>;

  explicit Registry(std::string what) : what_(std::move(what)) {}

  // Registers `factory` under `name`; a second registration of one name is a bug.
  bool add(const std::string& name, Factory factory, std::string description = "") {
    check_invariant(!entries_.count(name), what_ + " '" + name + "' registered twice");
    entries_[name] = Entry{std::move(factory), std::move(description)};
    return true;
  }

  bool contains(const std::string& name) const { return entries_.count(name) > 0; }

  // Throws InputError naming the known entries when `name` is unknown.
  std::unique_ptr<Base> create(const std::string& name, const Config& config) const {
    return entry(name).factory(config);
  }

  const std::string& description(const std::string& name) const {
    return entry(name).description;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, e] : entries_) out.push_back(name);
    return out;
  }

  // "unknown memory policy 'pagd' (did you mean 'paged'?; known: contiguous, paged)"; the
  // suggestion (see did_you_mean) only when a known name is close.
  std::string unknown_message(const std::string& name) const {
    return unknown_name_message(what_, name, names());
  }

 private:
  struct Entry {
    Factory factory;
    std::string description;
  };
  const Entry& entry(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) throw InputError(unknown_message(name));
    return it->second;
  }
  std::string what_;
  std::map<std::string, Entry> entries_;
};

// A catalog is a registry of plain values (models, hardware) rather than factories.
template <typename Value>
class Catalog {
 public:
  explicit Catalog(std::string what) : what_(std::move(what)) {}
  bool add(const std::string& name, Value value) {
    check_invariant(!entries_.count(name), what_ + " '" + name + "' registered twice");
    entries_[name] = std::move(value);
    return true;
  }
  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  const Value& get(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) throw InputError(unknown_name_message(what_, name, names()));
    return it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, v] : entries_) out.push_back(name);
    return out;
  }

 private:
  std::string what_;
  std::map<std::string, Value> entries_;
};

}  // namespace kvlab

#define KVLAB_CONCAT_INNER(a, b) a##b
#define KVLAB_CONCAT(a, b) KVLAB_CONCAT_INNER(a, b)
// KVLAB_REGISTER(registry_expression, "name", factory, "description") at namespace scope.
#define KVLAB_REGISTER(registry, name, ...)                                   \
  [[maybe_unused]] static const bool KVLAB_CONCAT(kvlab_registered_, __LINE__) = \
      (registry).add(name, __VA_ARGS__)
