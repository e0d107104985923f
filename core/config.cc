#include "core/config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "core/errors.h"

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

const std::set<std::string>& known_sections() {
  static const std::set<std::string> sections = {"workload", "model",   "hardware", "memory",
                                                 "scheduler", "backend", "output",   "sweep"};
  return sections;
}

void check_known_key(const std::string& key, const std::string& origin, long line) {
  if (find_config_key(key)) return;
  std::string section = key.substr(0, key.find('.'));
  std::string known;
  for (const ConfigKey& k : config_schema()) {
    std::string ks = k.key;
    if (ks.rfind(section + ".", 0) == 0) known += (known.empty() ? "" : ", ") + ks.substr(section.size() + 1);
  }
  if (known.empty()) throw InputError(origin, line, key, "unknown section '" + section + "'");
  throw InputError(origin, line, key, "unknown key (known in [" + section + "]: " + known + ")");
}

std::string strip_comment(const std::string& line) {
  // '#' or ';' starts a comment when it begins the line or follows white space.
  for (size_t i = 0; i < line.size(); ++i) {
    if ((line[i] == '#' || line[i] == ';') && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
      return line.substr(0, i);
    }
  }
  return line;
}

}  // namespace

Config Config::parse(const std::string& text, const std::string& origin) {
  Config config;
  std::istringstream in(text);
  std::string raw;
  std::string section;
  long line_no = 0;
  std::set<std::string> seen_sweep;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string line = trim(strip_comment(raw));
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']') throw InputError(origin, line_no, "", "section header without ']'");
      section = trim(line.substr(1, line.size() - 2));
      if (!known_sections().count(section)) {
        std::string known;
        for (const auto& s : known_sections()) known += (known.empty() ? "" : ", ") + s;
        throw InputError(origin, line_no, "", "unknown section [" + section + "] (known: " + known + ")");
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
      check_known_key(name, origin, line_no);
      if (!seen_sweep.insert(name).second) throw InputError(origin, line_no, "sweep." + name, "swept twice");
      std::vector<std::string> values = split_list(value);
      for (const std::string& v : values) {
        if (v.empty()) throw InputError(origin, line_no, "sweep." + name, "empty value in list");
      }
      config.sweep_.emplace_back(name, std::move(values));
      config.sweep_origin_[name] = ConfigValue{value, origin, line_no};
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
  std::ifstream in(path);
  if (!in) throw InputError(path, 0, "", "cannot open config file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  Config config = parse(buffer.str(), path);
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
    const std::string swept = key.substr(6);
    check_known_key(swept, "--set", 0);
    std::vector<std::string> values = split_list(value);
    bool replaced = false;
    for (auto& [k, v] : sweep_) {
      if (k == swept) {
        v = values;
        replaced = true;
      }
    }
    if (!replaced) sweep_.emplace_back(swept, values);
    return;
  }
  check_known_key(key, "--set", 0);
  set(key, value);
  // An explicit --set of a swept key pins it: the sweep no longer varies it.
  for (auto it = sweep_.begin(); it != sweep_.end(); ++it) {
    if (it->first == key) {
      sweep_.erase(it);
      break;
    }
  }
}

void Config::set(const std::string& key, const std::string& value, const std::string& origin,
                 long line) {
  values_[key] = ConfigValue{value, origin, line};
}

std::string Config::get_string(const std::string& key) const {
  auto it = values_.find(key);
  if (it != values_.end()) return it->second.value;
  const ConfigKey* k = find_config_key(key);
  if (!k) throw InvariantError("config key '" + key + "' is not in the schema");
  return k->default_value;
}

void Config::fail(const std::string& key, const std::string& message) const {
  auto it = values_.find(key);
  if (it != values_.end()) throw InputError(it->second.origin, it->second.line, key, message);
  throw InputError("", 0, key, message + " (default value)");
}

int64_t Config::get_int(const std::string& key) const {
  const std::string text = get_string(key);
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) fail(key, "'" + text + "' is not an integer");
  return v;
}

double Config::get_double(const std::string& key) const {
  const std::string text = get_string(key);
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v)) {
    fail(key, "'" + text + "' is not a number");
  }
  return v;
}

bool Config::get_bool(const std::string& key) const {
  const std::string text = get_string(key);
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  fail(key, "'" + text + "' is not a boolean (true | false)");
}

std::map<std::string, std::string> Config::resolved() const {
  std::map<std::string, std::string> out;
  for (const ConfigKey& k : config_schema()) out[k.key] = get_string(k.key);
  return out;
}

}  // namespace kvlab
