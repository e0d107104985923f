// Config: an experiment's settings as `section.key = value` strings, read from an INI file
// and `--set` overrides, with where each value came from (file and line) so that every error
// can name it. Typed getters validate and throw InputError naming file, line and key.
//
// Why not Boost.Program_options for the INI file: its parser does not report line numbers,
// and a user who mistypes a key in a 40-line experiment deserves the line. Program_options
// parses the command line (app/cli/).
//
// The known keys, with their defaults, types and ranges, are the schema (core/config_keys.h:
// declared by the registry entries that read them and by the application); an unknown key is
// an error that names its line. [sweep] keys must name known keys; their values are
// comma-separated lists. Keys joined by '+' form one zipped axis whose values are ':'-joined
// tuples (`memory.policy + memory.reservation = contiguous:max, paged:max`).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kvlab {

struct ConfigValue {
  std::string value;
  std::string origin;  // file name, or "--set"
  long line = 0;       // 0 for --set
};

// One [sweep] axis: a key and its values, or several keys varied together (zipped): then every
// value is one tuple, a value per key, in key order.
struct SweepAxis {
  std::vector<std::string> keys;
  std::vector<std::vector<std::string>> values;  // values[i][k]: key k's value at step i
  // labels[i]: step i's display name, written `value "Orca (Max)"` ("" when none was given).
  std::vector<std::string> labels;
  ConfigValue origin;                            // the [sweep] line (or --set) it came from

  // "memory.policy" or "memory.policy+memory.reservation".
  std::string name() const;
};

// A [replica.NAME] section of a cluster (core/cluster.h): `count` replicas (default 1) of
// role `role` (mixed | prefill | decode, default mixed) whose settings are the experiment's
// with these keys replaced (model, hardware, memory, scheduler and backend keys only).
struct ReplicaGroup {
  std::string name;
  ConfigValue header;                         // where the section starts
  std::map<std::string, ConfigValue> values;  // "count", "role", or a declared key
};

class Config {
 public:
  // Parses INI text. `origin` names the source in errors. Throws InputError on syntax errors,
  // unknown sections or keys, and duplicate keys.
  static Config parse(const std::string& text, const std::string& origin);
  static Config load(const std::string& path);

  // Applies one `section.key=value` override (from --set). Unknown keys are errors.
  void set_override(const std::string& assignment);
  void set(const std::string& key, const std::string& value, const std::string& origin = "--set",
           long line = 0);

  bool has(const std::string& key) const { return values_.count(key) > 0; }
  // Raw value or the schema default. REQUIRES: `key` is declared (config_keys()).
  std::string get_string(const std::string& key) const;
  // Typed values, checked against the key's declaration (type, range, choices) first; a bad
  // value throws InputError naming where it came from.
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_choice(const std::string& key) const;
  // Throws InputError("...: field KEY: MESSAGE") with the value's origin.
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  // Checks every value set (not the defaults, which are valid by declaration) against its
  // key's declaration: type, range, choices. Throws InputError naming file, line and key.
  void validate() const;

  const std::map<std::string, ConfigValue>& values() const { return values_; }
  // [sweep] axes in the order written.
  const std::vector<SweepAxis>& sweep() const { return sweep_; }
  void clear_sweep() { sweep_.clear(); }
  // Directory of the file this config was loaded from ("" for text), for relative paths.
  const std::string& base_dir() const { return base_dir_; }
  void set_base_dir(std::string dir) { base_dir_ = std::move(dir); }
  // Every resolved key (explicit or default) as "section.key" -> value, for result files,
  // and each replica group's settings as "replica.NAME.KEY" -> value.
  std::map<std::string, std::string> resolved() const;
  // The [replica.NAME] sections, in the order written.
  const std::vector<ReplicaGroup>& replica_groups() const { return replica_groups_; }
  void clear_replica_groups() { replica_groups_.clear(); }

 private:
  std::map<std::string, ConfigValue> values_;
  // Throws InputError naming `origin` when the axis repeats a key of another axis.
  void add_sweep_axis(const std::string& name, const std::string& values, const ConfigValue& origin);

  std::vector<SweepAxis> sweep_;
  std::vector<ReplicaGroup> replica_groups_;
  std::string base_dir_;
};

// Splits "a, b ,c" into {"a","b","c"}.
std::vector<std::string> split_list(const std::string& text, char sep = ',');
std::string trim(const std::string& text);

// `path` as given in a config loaded from directory `dir` (Config::base_dir): relative paths
// are relative to the config file; absolute ones, and any path when `dir` is "", as they are.
inline std::string join_path(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || dir.empty()) return path;
  return dir + "/" + path;
}

}  // namespace kvlab
