// CpuKvCache: host memory holding the K and V of `num_slots` token slots in every layer, in
// the KvArenaView layout (per layer [slot][kv_head][head_dim], K and V apart), stored as
// `dtype` (memory.kv_dtype; kernels/cpu/kv_quant.h: fp32, fp16, bf16, fp8_e4m3 or int8, the
// last two with one float scale per [layer][slot][kv_head] of K and of V, kept beside the
// elements). The CPU back end uses one as the "device" arena (capacity_slots of a
// KvCacheManager) and another as the host swap pool (swap_capacity_slots). Slot indices are
// the manager's.
//
// Memory is committed lazily (LazyHostMemory): a page costs time and resident memory only
// once a slot on it is written, so a large arena or swap pool of which a run uses a little
// (memory.swap_space_gb defaults to 4 GiB) starts at once and stays small. Unwritten slots
// read as zeros. Copying a cache copies its contents (and commits the copy's pages).
//
// Thread safety: none (a plain buffer).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/kv_dtype.h"
#include "kernels/cpu/kv_quant.h"
#include "kernels/kv_cache_view.h"
#include "kernels/lazy_host_memory.h"

namespace kvlab::cpu {

class CpuKvCache {
 public:
  // REQUIRES: every size >= 0 (a 0-slot cache is valid: an empty swap pool). Reads as zeros
  // until written. `dtype` auto stores fp32 (cpu_kv_storage). Throws std::bad_alloc when the
  // address space cannot be reserved.
  CpuKvCache(int32_t num_layers, int64_t num_slots, int32_t num_kv_heads, int32_t head_dim,
             KvDtype dtype = KvDtype::kFp32);
  // A cache over memory the caller owns and maps (the cpu back end's virtual memory,
  // kernels/vmm_kv_arena.h): K elements at `k`, V at `v`, each [layer][slot][kv_head][head_dim]
  // of `dtype`. REQUIRES (checked): `dtype` is unscaled (fp32, fp16, bf16: no scale arrays).
  // REQUIRES: the memory outlives the cache and every slot a kernel touches is mapped. Copying
  // such a cache is refused (InvariantError): its memory may have unmapped holes.
  static CpuKvCache borrowing(std::byte* k, std::byte* v, int32_t num_layers, int64_t num_slots,
                              int32_t num_kv_heads, int32_t head_dim, KvDtype dtype);
  CpuKvCache(const CpuKvCache& other);
  CpuKvCache& operator=(const CpuKvCache& other);
  CpuKvCache(CpuKvCache&&) noexcept = default;
  CpuKvCache& operator=(CpuKvCache&&) noexcept = default;

  int32_t num_layers() const { return num_layers_; }
  int64_t num_slots() const { return num_slots_; }
  int32_t num_kv_heads() const { return num_kv_heads_; }
  int32_t head_dim() const { return head_dim_; }
  KvDtype dtype() const { return dtype_; }  // never auto
  // Elements one slot takes in one of K or V of one layer: num_kv_heads * head_dim.
  int64_t slot_floats() const { return static_cast<int64_t>(num_kv_heads_) * head_dim_; }
  // Bytes one slot takes in every layer, K and V, scales included: ModelSpec::kv_bytes_per_slot
  // of the same shape and dtype.
  int64_t bytes_per_slot() const;

  // One layer in its stored format. REQUIRES: 0 <= layer < num_layers().
  KvLayerStore store(int32_t layer) const;
  // One layer as fp32 elements. REQUIRES (checked): dtype() == fp32; 0 <= layer < num_layers().
  KvArenaView<float> layer(int32_t layer);
  KvArenaView<const float> layer(int32_t layer) const;

  // Stores `value` in every element, as a write of it would (tests poison a cache with NaN to
  // prove unused slots are never read; a scaled dtype then holds NaN scales). Commits every
  // page. REQUIRES: the cache owns its memory (not borrowing()).
  void fill(float value);

  // Bytes of K and V pages (and scales') committed so far (LazyHostMemory::resident_bytes); 0
  // for a cache over borrowed memory.
  size_t resident_bytes() const {
    return k_.resident_bytes() + v_.resident_bytes() + k_scale_.resident_bytes() +
           v_scale_.resident_bytes();
  }

 private:
  int32_t num_layers_;
  int64_t num_slots_;
  int32_t num_kv_heads_;
  int32_t head_dim_;
  KvDtype dtype_;
  int32_t element_bytes_;
  size_t total_elements() const;
  size_t total_vectors() const;  // (layer, slot, kv head) triples: one scale each

  std::byte* k_data_ = nullptr;  // elements [layer][slot][kv_head][head_dim]: k_'s, or borrowed
  std::byte* v_data_ = nullptr;
  LazyHostMemory k_;  // empty when borrowing
  LazyHostMemory v_;
  LazyHostMemory k_scale_;  // floats [layer][slot][kv_head] (scaled dtypes only)
  LazyHostMemory v_scale_;
};

}  // namespace kvlab::cpu
