// Launchers of the KV-cache kernels (cache_kernels.cu): writing new tokens' K/V into their
// slots (as they are, or quantized), and copying slot ranges inside the device arena (one
// plane of it: elements or scales, CudaKvCache::Plane). Raw arguments, cudaError_t out;
// the checked API is cache_ops.h.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/device_kv_view.h"

namespace kvlab::cuda {

// Row r of k and v (num_kv_heads * head_dim wide, heads concatenated) goes to slot
// slot_mapping[r] of the arena; a negative slot skips the row. vLLM's reshape_and_cache.
template <typename T>
struct WriteKvArgs {
  const T* k = nullptr;
  const T* v = nullptr;
  int64_t k_stride = 0;  // elements between rows
  int64_t v_stride = 0;
  const int64_t* slot_mapping = nullptr;  // device, [num_rows]
  int64_t num_rows = 0;
  DeviceKvArena<T> arena;
};

template <typename T>
cudaError_t launch_write_kv(const WriteKvArgs<T>& args, cudaStream_t stream);

// The same into a quantized arena: each row's (KV head) vector of head_dim values is
// quantized as the CPU quantizer does it (kernels/kv_quant_math.h): its scale from its
// largest magnitude, then every element's code. One warp per (row, KV head).
template <typename T, typename Code>
struct WriteScaledKvArgs {
  const T* k = nullptr;
  const T* v = nullptr;
  int64_t k_stride = 0;
  int64_t v_stride = 0;
  const int64_t* slot_mapping = nullptr;
  int64_t num_rows = 0;
  DeviceScaledKvArena<Code> arena;
};

template <typename T, typename Code>
cudaError_t launch_write_scaled_kv(const WriteScaledKvArgs<T, Code>& args, cudaStream_t stream);

// A device-side copy of `num_slots` slots (the KvCopy of core/kv_cache_manager.h, mirrored).
struct SlotCopy {
  int64_t src_slot;
  int64_t dst_slot;
  int64_t num_slots;
};

// Copies every listed slot range in every layer, K and V, inside one arena whose layers are
// `layer_bytes` apart and whose slots are `slot_bytes` wide: [layer][slot][slot_bytes] for K
// at k_base and for V at v_base. The copies run in parallel, so the caller guarantees that
// no copy reads or writes what another copy writes (cache_ops.h checks it).
struct CopySlotsArgs {
  void* k_base = nullptr;
  void* v_base = nullptr;
  int64_t layer_bytes = 0;
  int64_t slot_bytes = 0;
  int32_t num_layers = 0;
  const SlotCopy* copies = nullptr;  // device, [num_copies]
  int32_t num_copies = 0;
  int64_t max_copy_slots = 0;  // the largest num_slots (sizes the grid)
};

cudaError_t launch_copy_slots(const CopySlotsArgs& args, cudaStream_t stream);

}  // namespace kvlab::cuda
