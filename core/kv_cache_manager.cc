#include "core/kv_cache_manager.h"

namespace kvlab {

const char* to_string(AllocStatus s) {
  switch (s) {
    case AllocStatus::kOk: return "ok";
    case AllocStatus::kLater: return "later";
    case AllocStatus::kNever: return "never";
  }
  return "?";
}

}  // namespace kvlab
