#include "core/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/config_keys.h"
#include "core/errors.h"
#include "core/suggest.h"

namespace kvlab {

std::string trim(const std::string& text) {
  const char* ws = " \t\r\n";
  const size_t begin = text.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  const size_t end = text.find_last_not_of(ws);
  return text.substr(begin, end - begin + 1);
}

std::vector<std::string> split_list(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, sep)) out.push_back(trim(item));
  if (!text.empty() && text.back() == sep) out.push_back("");
  return out;
}

namespace {

// In the order an experiment file lists them: the schema's sections, then [sweep].
const std::vector<std::string>& known_sections() {
  static const std::vector<std::string> sections = [] {
    std::vector<std::string> s = KeySchema::sections();
    s.push_back("sweep");
    return s;
  }();
  return sections;
}

bool is_known_section(const std::string& section) {
  return std::find(known_sections().begin(), known_sections().end(), section) !=
         known_sections().end();
}

// "(did you mean OPEN memory CLOSE?; known sections: workload, model, ...)"
std::string known_sections_note(const std::string& section, const char* open, const char* close) {
  std::string note = "(";
  const std::string near = did_you_mean(section, known_sections());
  if (!near.empty()) note += "did you mean " + (open + near + close) + "?; ";
  note += "known sections: ";
  for (size_t i = 0; i < known_sections().size(); ++i)
    note += (i ? ", " : "") + known_sections()[i];
  return note + ")";
}

void check_known_key(const std::string& key, const std::string& origin, long line) {
  if (config_keys().find(key)) return;
  const std::string section = key.substr(0, key.find('.'));
  const std::string name = key.find('.') == std::string::npos ? "" : key.substr(section.size() + 1);
  std::vector<std::string> in_section;  // the section's key names, without "section."
  std::string elsewhere;                // the first key of another section with this name
  for (const KeySpec* k : config_keys().keys()) {
    const std::string& ks = k->key;
    const std::string ks_name = ks.substr(ks.find('.') + 1);
    if (ks.rfind(section + ".", 0) == 0) {
      in_section.push_back(ks_name);
    } else if (ks_name == name && elsewhere.empty()) {
      elsewhere = ks;
    }
  }
  if (in_section.empty()) {
    throw InputError(origin, line, key,
                     "unknown section '" + section + "' " + known_sections_note(section, "'", "'"));
  }
  // A key of another section written in this one is the likelier slip than a typo.
  std::string suggestion = elsewhere;
  if (suggestion.empty()) {
    const std::string near = did_you_mean(name, in_section);
    if (!near.empty()) suggestion = section + "." + near;
  }
  std::string known;
  for (const std::string& k : in_section) known += (known.empty() ? "" : ", ") + k;
  throw InputError(origin, line, key,
                   "unknown key (" +
                       (suggestion.empty() ? "" : "did you mean '" + suggestion + "'?; ") +
                       "known in [" + section + "]: " + known + ")");
}

std::string strip_comment(const std::string& line) {
  // '#' or ';' starts a comment when it begins the line or follows white space, outside a
  // double-quoted sweep label.
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"') quoted = !quoted;
    if (quoted) continue;
    if ((line[i] == '#' || line[i] == ';') && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
      return line.substr(0, i);
    }
  }
  return line;
}

// The sections whose keys a [replica.NAME] section may set.
bool replica_may_set(const std::string& key) {
  for (const char* section : {"model.", "hardware.", "memory.", "scheduler.", "backend."}) {
    if (key.rfind(section, 0) == 0) return true;
  }
  return false;
}

// Checks `name = value` of a [replica.NAME] section and adds it to `group`.
void add_replica_setting(ReplicaGroup& group, const std::string& name, const std::string& value,
                         const std::string& origin, long line_no, bool replace = false) {
  const std::string field = "replica." + group.name + "." + name;
  std::string problem;
  if (name == "count") {
    problem = int_key(name, 1, 1, kInt32Max, "").check(value);
  } else if (name == "role") {
    problem = choice_key(name, "mixed", {"mixed", "prefill", "decode"}, "").check(value);
  } else if (!replica_may_set(name)) {
    problem = "a replica group sets count, role, and model, hardware, memory, scheduler or "
              "backend keys (written as section.key)";
  } else if (const KeySpec* spec = config_keys().find(name)) {
    problem = spec->check(value);
  } else {
    check_known_key(name, origin, line_no);  // throws, with a suggestion
  }
  if (!problem.empty()) throw InputError(origin, line_no, field, problem);
  if (group.values.count(name) && !replace) {
    throw InputError(origin, line_no, field,
                     "set twice (first on line " + std::to_string(group.values[name].line) + ")");
  }
  group.values[name] = ConfigValue{value, origin, line_no};
}

// "replica.NAME.KEY": a replica group's setting (--set, [sweep]); splits it.
bool split_replica_key(const std::string& key, std::string& group, std::string& name) {
  if (key.rfind("replica.", 0) != 0) return false;
  const size_t dot = key.find('.', 8);
  if (dot == std::string::npos || dot == 8 || dot + 1 >= key.size()) return false;
  group = key.substr(8, dot - 8);
  name = key.substr(dot + 1);
  return true;
}

}  // namespace

Config Config::parse(const std::string& text, const std::string& origin) {
  Config config;
  std::istringstream in(text);
  std::string raw;
  std::string section;
  long line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string line = trim(strip_comment(raw));
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']') throw InputError(origin, line_no, "", "section header without ']'");
      section = trim(line.substr(1, line.size() - 2));
      if (section.rfind("replica.", 0) == 0) {
        const std::string name = section.substr(8);
        const bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
        });
        if (!valid) {
          throw InputError(origin, line_no, section,
                           "a replica group's name is letters, digits, '_' and '-'");
        }
        for (const ReplicaGroup& g : config.replica_groups_) {
          if (g.name == name) {
            throw InputError(origin, line_no, section,
                             "written twice (first on line " + std::to_string(g.header.line) + ")");
          }
        }
        config.replica_groups_.push_back(ReplicaGroup{name, ConfigValue{"", origin, line_no}, {}});
        continue;
      }
      if (!is_known_section(section)) {
        throw InputError(
            origin, line_no, "",
            "unknown section [" + section + "] " + known_sections_note(section, "[", "]"));
      }
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) throw InputError(origin, line_no, "", "expected 'key = value'");
    const std::string name = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    if (section.empty()) throw InputError(origin, line_no, name, "key outside any [section]");
    if (name.empty()) throw InputError(origin, line_no, "", "empty key");
    if (section == "sweep") {
      config.add_sweep_axis(name, value, ConfigValue{value, origin, line_no});
      continue;
    }
    if (section.rfind("replica.", 0) == 0) {
      add_replica_setting(config.replica_groups_.back(), name, value, origin, line_no);
      continue;
    }
    const std::string key = section + "." + name;
    check_known_key(key, origin, line_no);
    if (config.values_.count(key)) {
      throw InputError(origin, line_no, key, "set twice (first on line " +
                                                 std::to_string(config.values_[key].line) + ")");
    }
    config.values_[key] = ConfigValue{value, origin, line_no};
  }
  return config;
}

Config Config::load(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    throw InputError(path, 0, "", "is a directory, not a config file");
  }
  std::ifstream in(path);
  if (!in) throw InputError(path, 0, "", "cannot open config file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  // A UTF-8 byte order mark (editors on Windows write one) is not part of the first line.
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  Config config = parse(text, path);
  const size_t slash = path.find_last_of('/');
  config.base_dir_ = slash == std::string::npos ? "" : path.substr(0, slash);
  return config;
}

void Config::set_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || assignment.find('.') > eq) {
    throw InputError("--set", 0, assignment, "expected section.key=value");
  }
  const std::string key = trim(assignment.substr(0, eq));
  const std::string value = trim(assignment.substr(eq + 1));
  if (key.rfind("sweep.", 0) == 0) {
    const std::string name = key.substr(6);
    // The new axis replaces every axis that shares a key with it, where the first of them was.
    const std::vector<std::string> keys = split_list(name, '+');
    std::vector<SweepAxis> kept;
    size_t at = std::string::npos;
    for (SweepAxis& axis : sweep_) {
      const bool shares = std::any_of(keys.begin(), keys.end(), [&](const std::string& k) {
        return std::find(axis.keys.begin(), axis.keys.end(), k) != axis.keys.end();
      });
      if (shares && at == std::string::npos) at = kept.size();
      if (!shares) kept.push_back(std::move(axis));
    }
    sweep_ = std::move(kept);
    add_sweep_axis(name, value, ConfigValue{value, "--set", 0});
    if (at != std::string::npos) {
      std::rotate(sweep_.begin() + static_cast<std::ptrdiff_t>(at), sweep_.end() - 1, sweep_.end());
    }
    return;
  }
  std::string group_name, inner;
  if (!split_replica_key(key, group_name, inner)) check_known_key(key, "--set", 0);
  set(key, value);
  // An explicit --set of a swept key pins it: the sweep no longer varies it. In a zipped axis
  // the key leaves the tuples, and tuples that became equal are run once.
  for (auto it = sweep_.begin(); it != sweep_.end(); ++it) {
    const auto k = std::find(it->keys.begin(), it->keys.end(), key);
    if (k == it->keys.end()) continue;
    const auto column = static_cast<std::ptrdiff_t>(k - it->keys.begin());
    it->keys.erase(k);
    std::vector<std::vector<std::string>> kept;
    std::vector<std::string> kept_labels;  // a merged tuple keeps the first one's label
    for (size_t i = 0; i < it->values.size(); ++i) {
      std::vector<std::string>& tuple = it->values[i];
      tuple.erase(tuple.begin() + column);
      if (std::find(kept.begin(), kept.end(), tuple) == kept.end()) {
        kept.push_back(std::move(tuple));
        kept_labels.push_back(it->labels[i]);
      }
    }
    it->values = std::move(kept);
    it->labels = std::move(kept_labels);
    if (it->keys.empty()) sweep_.erase(it);
    break;
  }
}

namespace {

// A [sweep] value list: items split at commas outside double quotes, each `VALUE` or
// `VALUE "LABEL"` (the label a display name for plots and tables; it may hold commas).
std::vector<std::pair<std::string, std::string>> split_sweep_values(const std::string& text,
                                                                    const ConfigValue& origin,
                                                                    const std::string& field) {
  std::vector<std::pair<std::string, std::string>> items;
  std::string value, label;
  bool quoted = false, have_label = false;
  auto finish = [&] {
    const std::string v = trim(value);
    if (have_label && v.empty()) {
      throw InputError(origin.origin, origin.line, field,
                       "label \"" + label + "\" without a value before it");
    }
    if (have_label && trim(label).empty()) {
      throw InputError(origin.origin, origin.line, field, "empty label for '" + v + "'");
    }
    items.emplace_back(v, trim(label));
    value.clear();
    label.clear();
    have_label = false;
  };
  for (char c : text) {
    if (quoted) {
      if (c == '"') {
        quoted = false;
      } else {
        label += c;
      }
    } else if (c == '"') {
      if (have_label) {
        throw InputError(origin.origin, origin.line, field,
                         "a second label after \"" + label + "\" (one label per value)");
      }
      if (!value.empty() && !std::isspace(static_cast<unsigned char>(value.back()))) {
        throw InputError(origin.origin, origin.line, field,
                         "a quote inside '" + trim(value) +
                             "': write a label after the value and a space, `value \"label\"`");
      }
      quoted = true;
      have_label = true;
    } else if (c == ',') {
      finish();
    } else if (have_label) {
      if (!std::isspace(static_cast<unsigned char>(c))) {
        throw InputError(origin.origin, origin.line, field,
                         "text after the label \"" + label + "\" (a comma must follow it)");
      }
    } else {
      value += c;
    }
  }
  if (quoted) {
    throw InputError(origin.origin, origin.line, field, "unterminated label \"" + label);
  }
  finish();
  return items;
}

}  // namespace

std::string SweepAxis::name() const {
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : "+") + k;
  return out;
}

void Config::add_sweep_axis(const std::string& name, const std::string& values,
                            const ConfigValue& origin) {
  SweepAxis axis;
  axis.origin = origin;
  axis.keys = split_list(name, '+');
  const std::string field = "sweep." + name;
  for (const std::string& k : axis.keys) {
    if (k.empty()) throw InputError(origin.origin, origin.line, field, "empty key in a zipped axis");
    std::string group_name, inner;
    if (!split_replica_key(k, group_name, inner)) check_known_key(k, origin.origin, origin.line);
    if (std::count(axis.keys.begin(), axis.keys.end(), k) > 1) {
      throw InputError(origin.origin, origin.line, field, "key " + k + " appears twice");
    }
    for (const SweepAxis& other : sweep_) {
      if (std::find(other.keys.begin(), other.keys.end(), k) != other.keys.end()) {
        throw InputError(origin.origin, origin.line, field,
                         k + " swept twice (also in sweep." + other.name() +
                             (other.origin.line > 0 ? " on line " + std::to_string(other.origin.line)
                                                    : std::string()) +
                             ")");
      }
    }
  }
  // An axis without values would expand to no point at all: refused, not run as "0 points".
  if (trim(values).empty()) throw InputError(origin.origin, origin.line, field, "no values to sweep");
  for (const auto& [v, label] : split_sweep_values(values, origin, field)) {
    if (v.empty()) throw InputError(origin.origin, origin.line, field, "empty value in list");
    std::vector<std::string> tuple =
        axis.keys.size() == 1 ? std::vector<std::string>{v} : split_list(v, ':');
    if (tuple.size() != axis.keys.size()) {
      throw InputError(origin.origin, origin.line, field,
                       "value '" + v + "' has " + std::to_string(tuple.size()) + " part(s); a zipped axis of " +
                           std::to_string(axis.keys.size()) + " keys needs " +
                           std::to_string(axis.keys.size()) + " joined by ':'");
    }
    for (const std::string& part : tuple) {
      if (part.empty()) throw InputError(origin.origin, origin.line, field, "empty part in '" + v + "'");
    }
    axis.values.push_back(std::move(tuple));
    axis.labels.push_back(label);
  }
  sweep_.push_back(std::move(axis));
}

void Config::set(const std::string& key, const std::string& value, const std::string& origin,
                 long line) {
  std::string group_name, name;
  if (split_replica_key(key, group_name, name)) {
    // A replica group's setting: the group is made when the first of its keys is set.
    auto it = std::find_if(replica_groups_.begin(), replica_groups_.end(),
                           [&](const ReplicaGroup& g) { return g.name == group_name; });
    if (it == replica_groups_.end()) {
      replica_groups_.push_back(ReplicaGroup{group_name, ConfigValue{"", origin, line}, {}});
      it = replica_groups_.end() - 1;
    }
    add_replica_setting(*it, name, value, origin, line, /*replace=*/true);
    return;
  }
  values_[key] = ConfigValue{value, origin, line};
}

std::string Config::get_string(const std::string& key) const {
  auto it = values_.find(key);
  if (it != values_.end()) return it->second.value;
  const KeySpec* k = config_keys().find(key);
  if (!k) throw InvariantError("config key '" + key + "' is not in the schema");
  return k->default_value;
}

void Config::fail(const std::string& key, const std::string& message) const {
  auto it = values_.find(key);
  if (it != values_.end()) throw InputError(it->second.origin, it->second.line, key, message);
  throw InputError("", 0, key, message + " (default value)");
}

namespace {

// The value of `key`, checked against its declaration (type, range, choices): the one place a
// key's rule is applied, whether it is read or validated ahead (Config::validate).
std::string checked_value(const Config& c, const std::string& key) {
  std::string text = c.get_string(key);
  if (const KeySpec* spec = config_keys().find(key)) {
    const std::string reason = spec->check(text);
    if (!reason.empty()) c.fail(key, reason);
  }
  return text;
}

}  // namespace

int64_t Config::get_int(const std::string& key) const {
  const std::string text = checked_value(*this, key);
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) fail(key, "'" + text + "' is not an integer");
  return v;
}

double Config::get_double(const std::string& key) const {
  const std::string text = checked_value(*this, key);
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v)) {
    fail(key, "'" + text + "' is not a number");
  }
  return v;
}

bool Config::get_bool(const std::string& key) const {
  const std::string text = checked_value(*this, key);
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  fail(key, "'" + text + "' is not a boolean (true | false)");
}

std::string Config::get_choice(const std::string& key) const { return checked_value(*this, key); }

std::map<std::string, std::string> Config::resolved() const {
  std::map<std::string, std::string> out;
  for (const KeySpec* k : config_keys().keys()) out[k->key] = get_string(k->key);
  for (const ReplicaGroup& g : replica_groups_) {
    for (const auto& [key, value] : g.values) out["replica." + g.name + "." + key] = value.value;
  }
  return out;
}

void Config::validate() const {
  for (const auto& [key, value] : values_) {
    if (!config_keys().find(key)) throw InputError(value.origin, value.line, key, "unknown key");
    checked_value(*this, key);
  }
}

}  // namespace kvlab
