#include "kernels/cpu/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/errors.h"

namespace kvlab::cpu {

CpuKvCache::CpuKvCache(int32_t num_layers, int64_t num_slots, int32_t num_kv_heads,
                       int32_t head_dim, KvDtype dtype)
    : num_layers_(num_layers),
      num_slots_(num_slots),
      num_kv_heads_(num_kv_heads),
      head_dim_(head_dim),
      dtype_(cpu_kv_storage(dtype)),
      element_bytes_(kv_element_bytes(dtype_, 4)) {
  check_invariant(num_layers >= 0 && num_slots >= 0 && num_kv_heads >= 0 && head_dim >= 0,
                  "CpuKvCache: negative size");
  // Reserved, not written: the kernel zero-fills each page when a slot on it is first written.
  k_ = LazyHostMemory(total_elements() * static_cast<size_t>(element_bytes_));
  v_ = LazyHostMemory(total_elements() * static_cast<size_t>(element_bytes_));
  k_data_ = k_.as<std::byte>();
  v_data_ = v_.as<std::byte>();
  if (kv_dtype_scaled(dtype_)) {
    k_scale_ = LazyHostMemory(total_vectors() * sizeof(float));
    v_scale_ = LazyHostMemory(total_vectors() * sizeof(float));
  }
}

CpuKvCache CpuKvCache::borrowing(std::byte* k, std::byte* v, int32_t num_layers,
                                 int64_t num_slots, int32_t num_kv_heads, int32_t head_dim,
                                 KvDtype dtype) {
  check_invariant(!kv_dtype_scaled(cpu_kv_storage(dtype)),
                  "CpuKvCache: a cache over borrowed memory holds no scales (dtype " +
                      std::string(kv_dtype_name(dtype)) + ")");
  CpuKvCache cache(num_layers, 0, num_kv_heads, head_dim, dtype);  // owns nothing
  cache.num_slots_ = num_slots;
  cache.k_data_ = k;
  cache.v_data_ = v;
  return cache;
}

CpuKvCache::CpuKvCache(const CpuKvCache& other)
    : CpuKvCache(other.num_layers_, other.num_slots_, other.num_kv_heads_, other.head_dim_,
                 other.dtype_) {
  check_invariant(other.k_data_ == other.k_.data(),
                  "CpuKvCache: a cache over borrowed memory cannot be copied");
  auto copy = [](const LazyHostMemory& from, LazyHostMemory& to) {
    if (from.size_bytes() > 0) std::memcpy(to.data(), from.data(), from.size_bytes());
  };
  copy(other.k_, k_);
  copy(other.v_, v_);
  copy(other.k_scale_, k_scale_);
  copy(other.v_scale_, v_scale_);
}

CpuKvCache& CpuKvCache::operator=(const CpuKvCache& other) {
  if (this != &other) *this = CpuKvCache(other);
  return *this;
}

size_t CpuKvCache::total_elements() const {
  return total_vectors() * static_cast<size_t>(head_dim_);
}

size_t CpuKvCache::total_vectors() const {
  return static_cast<size_t>(num_layers_) * static_cast<size_t>(num_slots_) *
         static_cast<size_t>(num_kv_heads_);
}

int64_t CpuKvCache::bytes_per_slot() const {
  const int64_t per_vector = static_cast<int64_t>(head_dim_) * element_bytes_ +
                             (kv_dtype_scaled(dtype_) ? kKvScaleBytes : 0);
  return 2LL * num_layers_ * num_kv_heads_ * per_vector;
}

KvLayerStore CpuKvCache::store(int32_t layer) const {
  check_invariant(layer >= 0 && layer < num_layers_,
                  "CpuKvCache: layer " + std::to_string(layer) + " out of range");
  const size_t vectors = static_cast<size_t>(layer) * static_cast<size_t>(num_slots_) *
                         static_cast<size_t>(num_kv_heads_);
  const size_t bytes = vectors * static_cast<size_t>(head_dim_) * static_cast<size_t>(element_bytes_);
  const bool scaled = kv_dtype_scaled(dtype_);
  return KvLayerStore{dtype_,
                      k_data_ + bytes,
                      v_data_ + bytes,
                      scaled ? k_scale_.as<float>() + vectors : nullptr,
                      scaled ? v_scale_.as<float>() + vectors : nullptr,
                      num_slots_,
                      num_kv_heads_,
                      head_dim_,
                      element_bytes_};
}

KvArenaView<float> CpuKvCache::layer(int32_t layer) { return store(layer).as_fp32(); }

KvArenaView<const float> CpuKvCache::layer(int32_t layer) const {
  return store(layer).as_fp32().as_const();
}

void CpuKvCache::fill(float value) {
  check_invariant(k_data_ == k_.data(), "CpuKvCache: fill of a cache over borrowed memory");
  if (dtype_ == KvDtype::kFp32) {
    std::fill_n(k_.as<float>(), total_elements(), value);
    std::fill_n(v_.as<float>(), total_elements(), value);
    return;
  }
  const std::vector<float> vec(static_cast<size_t>(head_dim_), value);
  for (int32_t l = 0; l < num_layers_; ++l) {
    const KvLayerStore s = store(l);
    for (int64_t slot = 0; slot < num_slots_; ++slot) {
      for (int32_t h = 0; h < num_kv_heads_; ++h) {
        quantize_kv(dtype_, vec.data(), head_dim_, s.k_at(slot, h), s.k_scale_at(slot, h));
        quantize_kv(dtype_, vec.data(), head_dim_, s.v_at(slot, h), s.v_scale_at(slot, h));
      }
    }
  }
}

}  // namespace kvlab::cpu
