#include "kernels/cpu/kv_cache.h"

#include <algorithm>
#include <string>

#include "core/errors.h"

namespace kvlab::cpu {

CpuKvCache::CpuKvCache(int32_t num_layers, int64_t num_slots, int32_t num_kv_heads,
                       int32_t head_dim)
    : num_layers_(num_layers),
      num_slots_(num_slots),
      num_kv_heads_(num_kv_heads),
      head_dim_(head_dim) {
  check_invariant(num_layers >= 0 && num_slots >= 0 && num_kv_heads >= 0 && head_dim >= 0,
                  "CpuKvCache: negative size");
  const size_t total = static_cast<size_t>(num_layers) * static_cast<size_t>(num_slots) *
                       static_cast<size_t>(slot_floats());
  k_.assign(total, 0.0f);
  v_.assign(total, 0.0f);
}

KvArenaView<float> CpuKvCache::layer(int32_t layer) {
  check_invariant(layer >= 0 && layer < num_layers_,
                  "CpuKvCache: layer " + std::to_string(layer) + " out of range");
  const size_t offset =
      static_cast<size_t>(layer) * static_cast<size_t>(num_slots_ * slot_floats());
  return KvArenaView<float>{k_.data() + offset, v_.data() + offset, num_slots_, num_kv_heads_,
                            head_dim_,          slot_floats(),      head_dim_};
}

KvArenaView<const float> CpuKvCache::layer(int32_t layer) const {
  return const_cast<CpuKvCache*>(this)->layer(layer).as_const();
}

void CpuKvCache::fill(float value) {
  std::fill(k_.begin(), k_.end(), value);
  std::fill(v_.begin(), v_.end(), value);
}

}  // namespace kvlab::cpu
