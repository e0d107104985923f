// Moving token slots between arenas, every layer, K and V: copy-on-write and fork copies
// (device to device) and swap out / swap in (device to host pool and back). The manager
// returns these as KvCopy lists (core/kv_cache_manager.h); here both arenas are host memory.
#pragma once

#include <span>

#include "core/kv_cache_manager.h"
#include "kernels/cpu/kv_cache.h"

namespace kvlab::cpu {

// For each copy in order: slots [src_slot, src_slot + num_slots) of `src` go to
// [dst_slot, dst_slot + num_slots) of `dst`. `src` and `dst` may be the same cache (device to
// device copies).
// Scaled dtypes' scales move with their slots.
// REQUIRES (checked): equal shapes (layers, kv heads, head_dim) and dtypes; ranges inside both caches;
// num_slots >= 0; within one cache, a copy's source and destination ranges do not overlap.
void copy_kv(const CpuKvCache& src, CpuKvCache& dst, std::span<const KvCopy> copies);

// Device-to-device copies inside one arena (fork copies, copy-on-write).
inline void copy_kv_within(CpuKvCache& cache, std::span<const KvCopy> copies) {
  copy_kv(cache, cache, copies);
}
// Device -> host pool (swap_out) and host pool -> device (swap_in).
inline void swap_out(const CpuKvCache& device, CpuKvCache& host, std::span<const KvCopy> copies) {
  copy_kv(device, host, copies);
}
inline void swap_in(const CpuKvCache& host, CpuKvCache& device, std::span<const KvCopy> copies) {
  copy_kv(host, device, copies);
}

}  // namespace kvlab::cpu
