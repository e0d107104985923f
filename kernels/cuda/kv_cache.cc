#include "kernels/cuda/kv_cache.h"

#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

CudaKvCache::CudaKvCache(int32_t num_layers, int64_t num_slots, int32_t num_kv_heads,
                         int32_t head_dim, DType dtype, Memory memory)
    : num_layers_(num_layers),
      num_slots_(num_slots),
      num_kv_heads_(num_kv_heads),
      head_dim_(head_dim),
      dtype_(dtype),
      memory_(memory) {
  check_invariant(num_layers >= 0 && num_slots >= 0 && num_kv_heads >= 0 && head_dim >= 0,
                  "CudaKvCache: negative size");
  const auto bytes = static_cast<size_t>(total_bytes());
  if (bytes == 0) return;
  if (memory == Memory::kDevice) {
    device_.reserve(bytes);
    base_ = device_.data();
    check_cuda(cudaMemset(base_, 0, bytes), "CudaKvCache: cudaMemset");
    // cudaMemset may return before it is done; streams created later must not race it.
    check_cuda(cudaDeviceSynchronize(), "CudaKvCache: cudaMemset");
  } else {
    host_ = LazyPinnedMemory(bytes);
    base_ = host_.data();
  }
}

CudaKvCache::CudaKvCache(Borrowed, void* base, int32_t num_layers, int64_t num_slots,
                         int32_t num_kv_heads, int32_t head_dim, DType dtype)
    : num_layers_(num_layers),
      num_slots_(num_slots),
      num_kv_heads_(num_kv_heads),
      head_dim_(head_dim),
      dtype_(dtype),
      memory_(Memory::kDevice),
      base_(base) {
  check_invariant(num_layers >= 0 && num_slots >= 0 && num_kv_heads >= 0 && head_dim >= 0,
                  "CudaKvCache: negative size");
}

CudaKvCache CudaKvCache::borrowing(void* base, int32_t num_layers, int64_t num_slots,
                                   int32_t num_kv_heads, int32_t head_dim, DType dtype) {
  return CudaKvCache(Borrowed{}, base, num_layers, num_slots, num_kv_heads, head_dim, dtype);
}

void CudaKvCache::pin_slots(int64_t first_slot, int64_t num_slots) {
  check_invariant(first_slot >= 0 && num_slots >= 0 && first_slot + num_slots <= num_slots_,
                  "CudaKvCache: pin_slots past the cache");
  if (memory_ != Memory::kPinnedHost || num_slots == 0) return;
  const auto bytes = static_cast<size_t>(num_slots * slot_bytes());
  const auto k_at = static_cast<size_t>(first_slot * slot_bytes());
  const auto v_at = static_cast<size_t>(int64_t{num_layers_} * layer_bytes()) + k_at;
  for (int32_t layer = 0; layer < num_layers_; ++layer) {
    const auto layer_at = static_cast<size_t>(int64_t{layer} * layer_bytes());
    host_.pin(layer_at + k_at, bytes);
    host_.pin(layer_at + v_at, bytes);
  }
}

}  // namespace kvlab::cuda
