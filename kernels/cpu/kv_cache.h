// CpuKvCache: host memory holding the K and V of `num_slots` token slots in every layer, in
// the KvArenaView layout (per layer [slot][kv_head][head_dim], K and V apart). The CPU back
// end uses one as the "device" arena (capacity_slots of a KvCacheManager) and another as the
// host swap pool (swap_capacity_slots). Slot indices are the manager's.
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

#include "kernels/kv_cache_view.h"
#include "kernels/lazy_host_memory.h"

namespace kvlab::cpu {

class CpuKvCache {
 public:
  // REQUIRES: every size >= 0 (a 0-slot cache is valid: an empty swap pool). Reads as zeros
  // until written. Throws std::bad_alloc when the address space cannot be reserved.
  CpuKvCache(int32_t num_layers, int64_t num_slots, int32_t num_kv_heads, int32_t head_dim);
  CpuKvCache(const CpuKvCache& other);
  CpuKvCache& operator=(const CpuKvCache& other);
  CpuKvCache(CpuKvCache&&) noexcept = default;
  CpuKvCache& operator=(CpuKvCache&&) noexcept = default;

  int32_t num_layers() const { return num_layers_; }
  int64_t num_slots() const { return num_slots_; }
  int32_t num_kv_heads() const { return num_kv_heads_; }
  int32_t head_dim() const { return head_dim_; }
  // Floats one slot takes in one of K or V of one layer: num_kv_heads * head_dim.
  int64_t slot_floats() const { return static_cast<int64_t>(num_kv_heads_) * head_dim_; }

  // REQUIRES: 0 <= layer < num_layers().
  KvArenaView<float> layer(int32_t layer);
  KvArenaView<const float> layer(int32_t layer) const;

  // Sets every element (tests poison a cache with NaN to prove unused slots are never read).
  // Commits every page.
  void fill(float value);

  // Bytes of K and V pages committed so far (LazyHostMemory::resident_bytes).
  size_t resident_bytes() const { return k_.resident_bytes() + v_.resident_bytes(); }

 private:
  int32_t num_layers_;
  int64_t num_slots_;
  int32_t num_kv_heads_;
  int32_t head_dim_;
  size_t total_floats() const;

  LazyHostMemory k_;  // floats [layer][slot][kv_head][head_dim]
  LazyHostMemory v_;
};

}  // namespace kvlab::cpu
