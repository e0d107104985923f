// CudaKvCache: the K and V of `num_slots` token slots in every layer, in backend.dtype, laid
// out like CpuKvCache (kernels/cpu/kv_cache.h): per layer [slot][kv_head][head_dim], every
// layer's K first, then every layer's V, in one allocation. The CUDA back end holds one in
// device memory (the arena of capacity_slots a KvCacheManager hands out) and one in pinned
// host memory (the swap pool of swap_capacity_slots), so a swap is a plain DMA per range.
// The host pool is reserved up front but committed and pinned only as swaps write it
// (LazyPinnedMemory): a 4 GiB pool a run never swaps into costs neither time nor memory.
// Slot indices are the manager's.
//
// Thread safety: none (a buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/lazy_pinned_memory.h"
#include "kernels/kv_cache_view.h"

namespace kvlab::cuda {

class CudaKvCache {
 public:
  enum class Memory { kDevice, kPinnedHost };

  // Device memory is zero-filled; host memory reads as zeros until written and is pinned by
  // pin_slots (swap_out calls it before writing). Throws CudaError when the allocation fails
  // (std::bad_alloc when host address space cannot be reserved).
  // REQUIRES: every size >= 0.
  CudaKvCache(int32_t num_layers, int64_t num_slots, int32_t num_kv_heads, int32_t head_dim,
              DType dtype, Memory memory);
  // A device cache of this layout over memory someone else owns and keeps alive (the
  // virtual-memory arena's pool view and ranges, vmm_kv_arena.h): every layer's K from
  // `base`, then every layer's V. Nothing is allocated or zeroed.
  static CudaKvCache borrowing(void* base, int32_t num_layers, int64_t num_slots,
                               int32_t num_kv_heads, int32_t head_dim, DType dtype);

  int32_t num_layers() const { return num_layers_; }
  int64_t num_slots() const { return num_slots_; }
  int32_t num_kv_heads() const { return num_kv_heads_; }
  int32_t head_dim() const { return head_dim_; }
  DType dtype() const { return dtype_; }
  Memory memory() const { return memory_; }

  // Bytes of one slot's K (or V) in one layer, of one layer's K (or V), and of everything.
  int64_t slot_bytes() const { return int64_t{num_kv_heads_} * head_dim_ * dtype_bytes(dtype_); }
  int64_t layer_bytes() const { return num_slots_ * slot_bytes(); }
  int64_t total_bytes() const { return 2 * int64_t{num_layers_} * layer_bytes(); }

  // A host pool: page-locks slots [first_slot, first_slot + num_slots) of every layer, K and
  // V, where not yet pinned, so copies into them run as asynchronous DMA. A device cache: no
  // effect. REQUIRES (checked): the range lies inside the cache.
  void pin_slots(int64_t first_slot, int64_t num_slots);
  // Bytes of a host pool pinned so far; 0 for a device cache.
  size_t pinned_bytes() const { return host_.pinned_bytes(); }

  void* k_base() const { return base_; }
  void* v_base() const { return static_cast<char*>(base_) + num_layers_ * layer_bytes(); }

  // Layer `layer`'s arenas. REQUIRES (checked): 0 <= layer < num_layers(), T matches dtype().
  template <typename T>
  KvArenaView<T> layer(int32_t layer) const {
    check_invariant(dtype_of<T>() == dtype_, std::string("CudaKvCache: ") + dtype_name(dtype_) +
                                                 " cache viewed as " + dtype_name(dtype_of<T>()));
    check_invariant(layer >= 0 && layer < num_layers_,
                    "CudaKvCache: layer " + std::to_string(layer) + " out of range");
    const int64_t offset = int64_t{layer} * num_slots_ * slot_elements();
    return KvArenaView<T>{static_cast<T*>(k_base()) + offset,
                          static_cast<T*>(v_base()) + offset,
                          num_slots_,
                          num_kv_heads_,
                          head_dim_,
                          slot_elements(),
                          head_dim_};
  }

 private:
  struct Borrowed {};
  CudaKvCache(Borrowed, void* base, int32_t num_layers, int64_t num_slots, int32_t num_kv_heads,
              int32_t head_dim, DType dtype);
  int64_t slot_elements() const { return int64_t{num_kv_heads_} * head_dim_; }

  int32_t num_layers_;
  int64_t num_slots_;
  int32_t num_kv_heads_;
  int32_t head_dim_;
  DType dtype_;
  Memory memory_;
  DeviceBuffer device_;
  LazyPinnedMemory host_;
  void* base_ = nullptr;
};

}  // namespace kvlab::cuda
