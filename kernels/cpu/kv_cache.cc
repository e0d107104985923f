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
  // Reserved, not written: the kernel zero-fills each page when a slot on it is first written.
  k_ = LazyHostMemory(total_floats() * sizeof(float));
  v_ = LazyHostMemory(total_floats() * sizeof(float));
}

CpuKvCache::CpuKvCache(const CpuKvCache& other)
    : CpuKvCache(other.num_layers_, other.num_slots_, other.num_kv_heads_, other.head_dim_) {
  std::copy_n(other.k_.as<const float>(), total_floats(), k_.as<float>());
  std::copy_n(other.v_.as<const float>(), total_floats(), v_.as<float>());
}

CpuKvCache& CpuKvCache::operator=(const CpuKvCache& other) {
  if (this != &other) *this = CpuKvCache(other);
  return *this;
}

size_t CpuKvCache::total_floats() const {
  return static_cast<size_t>(num_layers_) * static_cast<size_t>(num_slots_) *
         static_cast<size_t>(slot_floats());
}

KvArenaView<float> CpuKvCache::layer(int32_t layer) {
  check_invariant(layer >= 0 && layer < num_layers_,
                  "CpuKvCache: layer " + std::to_string(layer) + " out of range");
  const size_t offset =
      static_cast<size_t>(layer) * static_cast<size_t>(num_slots_ * slot_floats());
  return KvArenaView<float>{k_.as<float>() + offset,
                            v_.as<float>() + offset,
                            num_slots_,
                            num_kv_heads_,
                            head_dim_,
                            slot_floats(),
                            head_dim_};
}

KvArenaView<const float> CpuKvCache::layer(int32_t layer) const {
  return const_cast<CpuKvCache*>(this)->layer(layer).as_const();
}

void CpuKvCache::fill(float value) {
  std::fill_n(k_.as<float>(), total_floats(), value);
  std::fill_n(v_.as<float>(), total_floats(), value);
}

}  // namespace kvlab::cpu
