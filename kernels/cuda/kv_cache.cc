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
    host_.reserve(bytes);
    base_ = host_.data();
  }
}

}  // namespace kvlab::cuda
