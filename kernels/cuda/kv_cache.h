// CudaKvCache: the K and V of `num_slots` token slots in every layer, laid out like
// CpuKvCache (kernels/cpu/kv_cache.h): per layer [slot][kv_head][head_dim], every layer's K
// first, then every layer's V, in one allocation. Stored in the compute dtype (backend.dtype)
// or quantized (memory.kv_dtype fp8_e4m3 or int8: 1-byte codes, and after every layer's V,
// 256-byte aligned, one fp32 scale per [layer][slot][kv_head] of K, then of V;
// kernels/kv_quant_math.h). The elements and the scales are two planes of the same
// [layer][slot] shape, which copies, swaps and pinning move together (planes()). The CUDA back end holds one in
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
#include <vector>

#include "core/errors.h"
#include "core/kv_dtype.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_kv_view.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/lazy_pinned_memory.h"
#include "kernels/kv_cache_view.h"

namespace kvlab::cuda {

class CudaKvCache {
 public:
  enum class Memory { kDevice, kPinnedHost };

  // Slots [slot, slot + n) of every layer, K and V, of one plane are, for each layer, one run
  // of n x slot_bytes at k_base / v_base + layer x layer_bytes + slot x slot_bytes.
  struct Plane {
    void* k_base;
    void* v_base;
    int64_t slot_bytes;
    int64_t layer_bytes;
  };

  // `dtype` is the compute dtype (what write_kv takes and attention returns); `storage` how
  // K/V are stored: auto (or the name of `dtype`) stores `dtype`, fp8_e4m3 and int8 quantize.
  // Device memory is zero-filled; host memory reads as zeros until written and is pinned by
  // pin_slots (swap_out calls it before writing). Throws CudaError when the allocation fails
  // (std::bad_alloc when host address space cannot be reserved).
  // REQUIRES: every size >= 0; `storage` one of the above (checked, InvariantError).
  CudaKvCache(int32_t num_layers, int64_t num_slots, int32_t num_kv_heads, int32_t head_dim,
              DType dtype, Memory memory, KvDtype storage = KvDtype::kAuto);

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
  // How K/V are stored: the name of dtype(), fp8_e4m3 or int8 (never auto).
  KvDtype storage() const {
    return storage_ == KvDtype::kAuto ? parse_kv_dtype(dtype_name(dtype_)) : storage_;
  }
  bool scaled() const { return kv_dtype_scaled(storage_); }
  Memory memory() const { return memory_; }

  // Bytes of one slot's K (or V) elements in one layer, of one layer's K (or V), and of
  // everything (the scale plane and its alignment included).
  int64_t slot_bytes() const { return int64_t{num_kv_heads_} * head_dim_ * element_bytes(); }
  int64_t layer_bytes() const { return num_slots_ * slot_bytes(); }
  int64_t total_bytes() const;
  // Bytes one slot takes in every layer, K and V, scales included: ModelSpec::kv_bytes_per_slot
  // of the same shape and storage (and CpuKvCache::bytes_per_slot).
  int64_t bytes_per_slot() const;
  // The element plane, then for a scaled cache the scale plane.
  std::vector<Plane> planes() const;

  // A host pool: page-locks slots [first_slot, first_slot + num_slots) of every layer, K and
  // V, where not yet pinned, so copies into them run as asynchronous DMA. A device cache: no
  // effect. REQUIRES (checked): the range lies inside the cache.
  void pin_slots(int64_t first_slot, int64_t num_slots);
  // Bytes of a host pool pinned so far; 0 for a device cache.
  size_t pinned_bytes() const { return host_.pinned_bytes(); }

  void* k_base() const { return base_; }
  void* v_base() const { return static_cast<char*>(base_) + num_layers_ * layer_bytes(); }

  // Layer `layer`'s arenas. REQUIRES (checked): 0 <= layer < num_layers(), T matches dtype(),
  // !scaled().
  template <typename T>
  KvArenaView<T> layer(int32_t layer) const {
    check_invariant(dtype_of<T>() == dtype_ && !scaled(),
                    std::string("CudaKvCache: ") + kv_dtype_name(storage()) + " cache viewed as " +
                        dtype_name(dtype_of<T>()));
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

  // Layer `layer`'s codes and scales. REQUIRES (checked): 0 <= layer < num_layers(), scaled().
  ScaledKvLayer scaled_layer(int32_t layer) const;

 private:
  struct Borrowed {};
  CudaKvCache(Borrowed, void* base, int32_t num_layers, int64_t num_slots, int32_t num_kv_heads,
              int32_t head_dim, DType dtype);
  int32_t element_bytes() const { return kv_element_bytes(storage_, dtype_bytes(dtype_)); }
  int64_t slot_elements() const { return int64_t{num_kv_heads_} * head_dim_; }
  // Offset of the scale plane: past every layer's K and V, rounded up to 256 bytes.
  int64_t scales_offset() const;
  int64_t scale_layer_bytes() const;

  int32_t num_layers_;
  int64_t num_slots_;
  int32_t num_kv_heads_;
  int32_t head_dim_;
  DType dtype_;
  // fp8_e4m3 or int8 when quantized; otherwise the name of dtype_, or auto (meaning dtype_)
  // for a cache a constructor builds without a storage. storage() never says auto.
  KvDtype storage_ = KvDtype::kAuto;
  Memory memory_;
  DeviceBuffer device_;
  LazyPinnedMemory host_;
  void* base_ = nullptr;
};

}  // namespace kvlab::cuda
