// Sweeps: a config's [sweep] section lists values per axis; the points are the cartesian
// product of the axes, in the order the axes and values are written (the first axis varies
// slowest). An axis is one key, or several keys zipped together ("a + b = x:1, y:2" gives the
// two steps a=x,b=1 and a=y,b=2), for comparisons whose keys only make sense in pairs.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace kvlab {

struct SweepPoint {
  size_t index = 0;
  std::string label;  // "memory.policy=paged, memory.block_size=16" ("" without a sweep)
  Config config;      // the base config with this point's values set
  // Per axis, in [sweep] order: its name ("memory.policy+memory.reservation") and this point's
  // display name on it: the value's label when the [sweep] line gave one ("Orca (Max)"), else
  // its values of the keys that mean something at this point (memory.reservation does not
  // under paged), a selector's value bare ("paged"), others as "block_size=16".
  std::vector<std::string> axes;
  std::vector<std::string> axis_labels;
  // The axis labels joined by ", " ("" without a sweep).
  std::string display_label() const;
};

std::vector<SweepPoint> expand_sweep(const Config& config);

// How many points expand_sweep(config) gives (the product of the axes' lengths; 1 without a
// sweep), without expanding them.
size_t sweep_size(const Config& config);

// "I/N" -> shard I (0-based) of N; throws InputError naming --shard.
struct Shard {
  size_t index = 0;
  size_t count = 1;
  bool contains(size_t point) const { return point % count == index; }
};
Shard parse_shard(const std::string& text);

}  // namespace kvlab
