// Registry: memory policies, schedulers, preemption and victim rules, cost models, back ends
// and trace formats are found by name. An entry carries everything the rest of kvlab may know
// about an implementation without creating it: its factory, a one-line description, the
// config keys it reads (declared here, next to its code; adding the entry adds them to the
// schema, core/config_keys.h) and its traits (what callers need to ask of it: a memory
// policy's swap granularity and table label, a back end's capacity probe, ...). Callers ask
// the entry or the object; nothing outside a registry compares an implementation's name.
//
// Registration is explicit: each folder exposes `register_*(Registry&)` functions and the
// application calls every one of them in one visible place (app/builtins.cc), so a library
// links by name like any other. Asking for an unknown name throws InputError listing the
// known ones.
//
// Thread safety: entries are added once, before any experiment runs; lookups afterwards may
// run concurrently.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config_keys.h"
#include "core/errors.h"
#include "core/suggest.h"

namespace kvlab {

// Traits of a kind of entry that has none.
struct NoTraits {};

template <typename Base, typename Config, typename Traits = NoTraits>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<Base>(const Config&)>;
  struct Entry {
    std::string name;
    Factory factory;
    std::string description{};    // one line, for `kvlab list`
    std::vector<KeySpec> keys{};  // the config keys the factory and the object read
    Traits traits{};
  };

  // `selector`: the config key that picks an entry ("memory.policy"); an entry's keys then
  // apply only where that key names it (KeySchema::applies).
  explicit Registry(std::string what, std::string selector = "")
      : what_(std::move(what)), selector_(std::move(selector)) {}

  // Registers `entry` and declares its keys (config_keys()). A second registration of one
  // name is a bug.
  void add(Entry entry) {
    check_invariant(!entries_.count(entry.name), what_ + " '" + entry.name + "' registered twice");
    for (const KeySpec& key : entry.keys) {
      config_keys().add(key, what_ + " '" + entry.name + "'", selector_, entry.name);
    }
    const std::string name = entry.name;
    entries_.emplace(name, std::move(entry));
  }

  bool contains(const std::string& name) const { return entries_.count(name) > 0; }

  // Throws InputError naming the known entries when `name` is unknown.
  std::unique_ptr<Base> create(const std::string& name, const Config& config) const {
    return entry(name).factory(config);
  }

  // Throws InputError naming the known entries when `name` is unknown.
  const Entry& entry(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) throw InputError(unknown_message(name));
    return it->second;
  }

  const std::string& description(const std::string& name) const { return entry(name).description; }

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
  std::string what_;
  std::string selector_;
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
