#include "core/config_keys.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/errors.h"
#include "core/suggest.h"

namespace kvlab {

namespace {

// A bound as a user would write it: 1, 0.5, 1e+30.
std::string number_text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

bool parse_int(const std::string& text, int64_t& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE) return false;
  out = v;
  return true;
}

bool parse_float(const std::string& text, double& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || errno == ERANGE || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool is_bool(const std::string& text) {
  for (const char* t : {"true", "1", "yes", "on", "false", "0", "no", "off"}) {
    if (text == t) return true;
  }
  return false;
}

}  // namespace

const char* to_string(KeyType type) {
  switch (type) {
    case KeyType::kString:
      return "text";
    case KeyType::kInt:
      return "integer";
    case KeyType::kFloat:
      return "number";
    case KeyType::kBool:
      return "boolean";
    case KeyType::kChoice:
      return "choice";
  }
  return "?";
}

std::vector<std::string> KeySpec::allowed() const {
  return choices_from ? choices_from() : choices;
}

std::string KeySpec::check(const std::string& value) const {
  switch (type) {
    case KeyType::kString:
      return "";
    case KeyType::kBool:
      return is_bool(value) ? "" : "'" + value + "' is not a boolean (true | false)";
    case KeyType::kChoice: {
      const std::vector<std::string> valid = allowed();
      if (std::find(valid.begin(), valid.end(), value) != valid.end()) return "";
      if (!choice_what.empty()) return unknown_name_message(choice_what, value, valid);
      const std::string near = did_you_mean(value, valid);
      return "'" + value + "' is not one of: " + join(valid, ", ") +
             (near.empty() ? "" : " (did you mean '" + near + "'?)");
    }
    case KeyType::kInt: {
      int64_t v = 0;
      if (!parse_int(value, v)) return "'" + value + "' is not an integer";
      if (std::find(also.begin(), also.end(), v) != also.end()) return "";
      const auto d = static_cast<double>(v);
      if (d < min || (min_open && d == min) || d > max || (max_open && d == max)) {
        return "must be " + domain() + ", got " + value;
      }
      return "";
    }
    case KeyType::kFloat: {
      double v = 0;
      if (!parse_float(value, v)) return "'" + value + "' is not a number";
      if (v < min || (min_open && v == min) || v > max || (max_open && v == max)) {
        return "must be " + domain() + ", got " + value;
      }
      return "";
    }
  }
  return "";
}

std::string KeySpec::domain() const {
  switch (type) {
    case KeyType::kString:
      return "text";
    case KeyType::kBool:
      return "true | false";
    case KeyType::kChoice:
      return join(allowed(), " | ");
    case KeyType::kInt:
    case KeyType::kFloat: {
      const std::string kind = type == KeyType::kInt ? "an integer" : "a number";
      // An integer key's bounds are exact integers (int_key): 1048576, not 1.04858e+06.
      auto bound = [this](double v) {
        return type == KeyType::kInt ? std::to_string(static_cast<int64_t>(v)) : number_text(v);
      };
      std::string out;
      const bool has_min = std::isfinite(min);
      const bool has_max = std::isfinite(max);
      if (has_min && has_max) {
        out = kind + " in " + (min_open ? "(" : "[") + bound(min) + ", " + bound(max) +
              (max_open ? ")" : "]");
      } else if (has_min) {
        out = kind + (min_open ? " > " : " >= ") + bound(min);
      } else if (has_max) {
        out = kind + (max_open ? " < " : " <= ") + bound(max);
      } else {
        out = kind;
      }
      for (int64_t a : also) out += " or " + std::to_string(a);
      return out;
    }
  }
  return "";
}

bool KeySpec::same_contract(const KeySpec& o) const {
  return key == o.key && type == o.type && default_value == o.default_value && min == o.min &&
         max == o.max && min_open == o.min_open && max_open == o.max_open && also == o.also &&
         allowed() == o.allowed();
}

KeySpec string_key(std::string key, std::string default_value, std::string doc) {
  KeySpec k;
  k.key = std::move(key);
  k.type = KeyType::kString;
  k.default_value = std::move(default_value);
  k.doc = std::move(doc);
  return k;
}

KeySpec int_key(std::string key, int64_t default_value, int64_t min, int64_t max, std::string doc,
                std::vector<int64_t> also) {
  KeySpec k;
  k.key = std::move(key);
  k.type = KeyType::kInt;
  k.default_value = std::to_string(default_value);
  k.doc = std::move(doc);
  k.min = static_cast<double>(min);
  k.max = max == kUnbounded ? std::numeric_limits<double>::infinity() : static_cast<double>(max);
  k.also = std::move(also);
  return k;
}

KeySpec float_key(std::string key, std::string default_value, double min, double max,
                  std::string doc, bool min_open, bool max_open) {
  KeySpec k;
  k.key = std::move(key);
  k.type = KeyType::kFloat;
  k.default_value = std::move(default_value);
  k.doc = std::move(doc);
  k.min = min;
  k.max = max;
  k.min_open = min_open;
  k.max_open = max_open;
  return k;
}

KeySpec bool_key(std::string key, bool default_value, std::string doc) {
  KeySpec k;
  k.key = std::move(key);
  k.type = KeyType::kBool;
  k.default_value = default_value ? "true" : "false";
  k.doc = std::move(doc);
  return k;
}

KeySpec choice_key(std::string key, std::string default_value, std::vector<std::string> choices,
                   std::string doc) {
  KeySpec k;
  k.key = std::move(key);
  k.type = KeyType::kChoice;
  k.default_value = std::move(default_value);
  k.doc = std::move(doc);
  k.choices = std::move(choices);
  return k;
}

KeySpec choice_key(std::string key, std::string default_value,
                   std::function<std::vector<std::string>()> choices_from, std::string what,
                   std::string doc) {
  KeySpec k = choice_key(std::move(key), std::move(default_value), std::vector<std::string>{},
                         std::move(doc));
  k.choices_from = std::move(choices_from);
  k.choice_what = std::move(what);
  return k;
}

const std::vector<std::string>& KeySchema::sections() {
  static const std::vector<std::string> names = {"workload",  "model",   "hardware", "memory",
                                                 "scheduler", "backend", "cluster", "output"};
  return names;
}

void KeySchema::add(const KeySpec& spec, const std::string& owner, const std::string& selector,
                    const std::string& entry) {
  if (!selector.empty()) selectors_.insert(selector);
  const std::pair<std::string, std::string> pick{selector, selector.empty() ? "" : entry};
  const std::string section = spec.key.substr(0, spec.key.find('.'));
  check_invariant(spec.key.find('.') != std::string::npos &&
                      std::find(sections().begin(), sections().end(), section) != sections().end(),
                  "key '" + spec.key + "' of " + owner + " is not in a known section");
  // A choice among a registry's names is checked when read: the registry may fill later.
  check_invariant(spec.choices_from || spec.check(spec.default_value).empty(),
                  "key '" + spec.key + "' of " + owner + ": default '" + spec.default_value +
                      "' is not valid: " + spec.check(spec.default_value));
  auto it = keys_.find(spec.key);
  if (it == keys_.end()) {
    keys_.emplace(spec.key, Declared{spec, {owner}, keys_.size(), {pick}});
    return;
  }
  check_invariant(it->second.spec.same_contract(spec), "key '" + spec.key +
                                                           "' declared differently by " + owner +
                                                           " and " + join(it->second.owners, ", "));
  if (std::find(it->second.owners.begin(), it->second.owners.end(), owner) ==
      it->second.owners.end()) {
    it->second.owners.push_back(owner);
  }
  if (std::find(it->second.picked_by.begin(), it->second.picked_by.end(), pick) ==
      it->second.picked_by.end()) {
    it->second.picked_by.push_back(pick);
  }
}

bool KeySchema::applies(const std::string& key,
                        const std::function<std::string(const std::string&)>& value_of) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return true;
  for (const auto& [selector, entry] : it->second.picked_by) {
    if (selector.empty() || value_of(selector) == entry) return true;
  }
  return false;
}

const KeySpec* KeySchema::find(const std::string& key) const {
  auto it = keys_.find(key);
  return it == keys_.end() ? nullptr : &it->second.spec;
}

const std::vector<std::string>& KeySchema::owners(const std::string& key) const {
  static const std::vector<std::string> none;
  auto it = keys_.find(key);
  return it == keys_.end() ? none : it->second.owners;
}

std::vector<const KeySpec*> KeySchema::keys() const {
  std::vector<const Declared*> all;
  for (const auto& [name, d] : keys_) all.push_back(&d);
  auto section_index = [](const Declared* d) {
    const std::string section = d->spec.key.substr(0, d->spec.key.find('.'));
    return std::find(sections().begin(), sections().end(), section) - sections().begin();
  };
  std::sort(all.begin(), all.end(), [&](const Declared* a, const Declared* b) {
    const auto sa = section_index(a), sb = section_index(b);
    return sa != sb ? sa < sb : a->order < b->order;
  });
  std::vector<const KeySpec*> out;
  for (const Declared* d : all) out.push_back(&d->spec);
  return out;
}

KeySchema& config_keys() {
  static KeySchema schema;
  return schema;
}

}  // namespace kvlab
