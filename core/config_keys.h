// Config keys: what one key is (name, type, default, allowed range or values, one line of
// doc) and the schema of every key kvlab reads.
//
// Keys are declared next to the code that reads them: a registry entry (a memory policy, a
// scheduler, a back end, a cost model, a trace format) lists its keys in its Entry
// (core/registry.h), and registering the entry adds them to the process-wide schema,
// config_keys(); the application declares the keys that belong to no policy (workload,
// model, hardware, output). The schema is what Config checks names against, what supplies
// defaults, what `kvlab list keys` prints and what docs/config.md's key tables are generated
// from, so a key is described once.
//
// A value is checked against its KeySpec once, when an experiment is resolved
// (validate_config_values): type, range, choices. Code that reads a key afterwards parses a
// value already known to be valid.
//
// Thread safety: the schema is filled once, at registration, before any experiment runs;
// reading it concurrently afterwards is safe.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace kvlab {

enum class KeyType { kString, kInt, kFloat, kBool, kChoice };
const char* to_string(KeyType type);

struct KeySpec {
  std::string key;  // "memory.block_size"
  KeyType type = KeyType::kString;
  std::string default_value;  // as written in an INI file
  std::string doc;            // one line
  // kInt / kFloat: the allowed range (bounds included unless *_open).
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false;
  bool max_open = false;
  // kInt: values allowed outside [min, max] (e.g. 0 for "off").
  std::vector<int64_t> also;
  // kChoice: the allowed values, fixed or, when choices_from is set, a registry's names
  // (read when checked, so entries registered later count).
  std::vector<std::string> choices;
  std::function<std::vector<std::string>()> choices_from;
  // kChoice: what the choices are, for messages ("memory policy": "unknown memory policy 'x'
  // (known: ...)"); empty: "'x' is not one of: ...".
  std::string choice_what;

  std::vector<std::string> allowed() const;  // kChoice: the current choices
  // "" when `value` is valid for this key, else the reason ("must be at least 1, got 0").
  std::string check(const std::string& value) const;
  // "integer >= 1", "number in (0, 1]", "paged | contiguous", "true | false", "text".
  std::string domain() const;
  // True when the two declare the same key alike (doc excluded): a key read by two entries
  // (the scheduling options of both batching policies) is declared by each, identically.
  bool same_contract(const KeySpec& other) const;
};

// Builders for the common shapes.
KeySpec string_key(std::string key, std::string default_value, std::string doc);
KeySpec int_key(std::string key, int64_t default_value, int64_t min, int64_t max, std::string doc,
                std::vector<int64_t> also = {});
KeySpec float_key(std::string key, std::string default_value, double min, double max,
                  std::string doc, bool min_open = false, bool max_open = false);
KeySpec bool_key(std::string key, bool default_value, std::string doc);
KeySpec choice_key(std::string key, std::string default_value, std::vector<std::string> choices,
                   std::string doc);
// A choice among a registry's (or catalog's) names, read when checked; `what` names them.
KeySpec choice_key(std::string key, std::string default_value,
                   std::function<std::vector<std::string>()> choices_from, std::string what,
                   std::string doc);
inline constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();
// The bound of a key stored in 32 bits: checked on the 64-bit value, before any narrowing.
inline constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// Every declared key, in section order (workload, model, hardware, memory, scheduler, backend,
// output), then in declaration order within a section.
class KeySchema {
 public:
  // Adds `spec`, declared by `owner` ("memory policy 'paged'", "application"). A key declared
  // again must keep its contract (KeySpec::same_contract), else InvariantError: two owners
  // that disagree about a key is a bug.
  // `selector` (a key such as "memory.policy") and `entry` ("paged") say when the key applies:
  // where the selector names the entry; an empty selector (the application, a registry
  // without one) makes it apply everywhere.
  void add(const KeySpec& spec, const std::string& owner, const std::string& selector = "",
           const std::string& entry = "");
  const KeySpec* find(const std::string& key) const;
  // Who declared `key` (empty when unknown).
  const std::vector<std::string>& owners(const std::string& key) const;
  std::vector<const KeySpec*> keys() const;
  // Whether `key` means something under a config whose values `value_of` gives: true unless
  // every declaration of it belongs to an entry its selector does not pick (memory.reservation
  // under memory.policy = paged). Unknown keys apply.
  bool applies(const std::string& key,
               const std::function<std::string(const std::string&)>& value_of) const;
  // Whether `key` picks registry entries (memory.policy, scheduler.batching, ...).
  bool is_selector(const std::string& key) const { return selectors_.count(key) > 0; }
  // The sections keys may live in, in order ("sweep" excluded).
  static const std::vector<std::string>& sections();

 private:
  struct Declared {
    KeySpec spec;
    std::vector<std::string> owners;
    size_t order = 0;
    // (selector, entry) of each declaration; ("", "") for an unconditional one.
    std::vector<std::pair<std::string, std::string>> picked_by;
  };
  std::map<std::string, Declared> keys_;
  std::set<std::string> selectors_;
};

// The process-wide schema (filled by registration, app/builtins.h).
KeySchema& config_keys();

}  // namespace kvlab
