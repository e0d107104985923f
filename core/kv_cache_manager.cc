#include "core/kv_cache_manager.h"

#include <string>

#include "core/errors.h"

namespace kvlab {

const char* to_string(AllocStatus s) {
  switch (s) {
    case AllocStatus::kOk: return "ok";
    case AllocStatus::kLater: return "later";
    case AllocStatus::kNever: return "never";
  }
  return "?";
}

void check_memory_sizes(const MemoryConfig& config) {
  if (config.capacity_slots <= 0) {
    throw InputError("", 0, "memory.capacity_slots",
                     "must be > 0, got " + std::to_string(config.capacity_slots));
  }
  if (config.swap_capacity_slots < 0) {
    throw InputError("", 0, "memory.swap_capacity_slots",
                     "must be >= 0, got " + std::to_string(config.swap_capacity_slots));
  }
  if (config.max_seq_len <= 0) {
    throw InputError("", 0, "memory.max_seq_len",
                     "must be > 0, got " + std::to_string(config.max_seq_len));
  }
}

}  // namespace kvlab
