#include "kernels/cpu/kv_copy.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/errors.h"

namespace kvlab::cpu {

namespace {

std::string describe(const KvCopy& c) {
  return "copy of " + std::to_string(c.num_slots) + " slots from " + std::to_string(c.src_slot) +
         " to " + std::to_string(c.dst_slot);
}

}  // namespace

void copy_kv(const CpuKvCache& src, CpuKvCache& dst, std::span<const KvCopy> copies) {
  check_invariant(src.num_layers() == dst.num_layers() &&
                      src.num_kv_heads() == dst.num_kv_heads() && src.head_dim() == dst.head_dim(),
                  "copy_kv: caches of different shapes");
  const bool same_cache = &src == &dst;
  for (const KvCopy& c : copies) {
    check_invariant(c.num_slots >= 0 && c.src_slot >= 0 && c.dst_slot >= 0 &&
                        c.src_slot + c.num_slots <= src.num_slots() &&
                        c.dst_slot + c.num_slots <= dst.num_slots(),
                    "copy_kv: " + describe(c) + " leaves the arenas (" +
                        std::to_string(src.num_slots()) + " and " +
                        std::to_string(dst.num_slots()) + " slots)");
    check_invariant(!same_cache || c.num_slots == 0 || c.src_slot + c.num_slots <= c.dst_slot ||
                        c.dst_slot + c.num_slots <= c.src_slot,
                    "copy_kv: " + describe(c) + " overlaps itself");
  }
  check_invariant(src.dtype() == dst.dtype(), "copy_kv: caches of different dtypes");
  // A slot's K (and V) of one layer is one contiguous run of bytes (and of scales, for a
  // scaled dtype), and consecutive slots are adjacent, so each copy is one block move per
  // layer and tensor, and one more per tensor's scales: the scales move with their slots.
  const int64_t heads = src.num_kv_heads();
  for (int32_t layer = 0; layer < src.num_layers(); ++layer) {
    const KvLayerStore from = src.store(layer);
    const KvLayerStore to = dst.store(layer);
    const int64_t width = heads * from.vector_bytes();
    for (const KvCopy& c : copies) {
      const auto n = static_cast<size_t>(c.num_slots * width);
      std::memmove(to.k + c.dst_slot * width, from.k + c.src_slot * width, n);
      std::memmove(to.v + c.dst_slot * width, from.v + c.src_slot * width, n);
      if (from.k_scale != nullptr) {
        const auto scales = static_cast<size_t>(c.num_slots * heads);
        std::copy_n(from.k_scale + c.src_slot * heads, scales, to.k_scale + c.dst_slot * heads);
        std::copy_n(from.v_scale + c.src_slot * heads, scales, to.v_scale + c.dst_slot * heads);
      }
    }
  }
}

}  // namespace kvlab::cpu
