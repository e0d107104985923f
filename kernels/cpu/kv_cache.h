// CpuKvCache: host memory holding the K and V of `num_slots` token slots in every layer, in
// the KvArenaView layout (per layer [slot][kv_head][head_dim], K and V apart). The CPU back
// end uses one as the "device" arena (capacity_slots of a KvCacheManager) and another as the
// host swap pool (swap_capacity_slots). Slot indices are the manager's.
//
// Thread safety: none (a plain buffer).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kv_cache_view.h"

namespace kvlab::cpu {

class CpuKvCache {
 public:
  // REQUIRES: every size >= 0 (a 0-slot cache is valid: an empty swap pool). Zero-filled.
  CpuKvCache(int32_t num_layers, int64_t num_slots, int32_t num_kv_heads, int32_t head_dim);

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
  void fill(float value);

 private:
  int32_t num_layers_;
  int64_t num_slots_;
  int32_t num_kv_heads_;
  int32_t head_dim_;
  std::vector<float> k_;  // [layer][slot][kv_head][head_dim]
  std::vector<float> v_;
};

}  // namespace kvlab::cpu
