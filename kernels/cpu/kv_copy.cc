#include "kernels/cpu/kv_copy.h"

#include <algorithm>
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
  // A slot's K (and V) of one layer is one contiguous run of slot_floats() floats, and
  // consecutive slots are adjacent, so each copy is one block move per layer and tensor.
  const int64_t width = src.slot_floats();
  for (int32_t layer = 0; layer < src.num_layers(); ++layer) {
    const KvArenaView<const float> from = src.layer(layer);
    const KvArenaView<float> to = dst.layer(layer);
    for (const KvCopy& c : copies) {
      const int64_t n = c.num_slots * width;
      std::copy_n(from.k + c.src_slot * width, n, to.k + c.dst_slot * width);
      std::copy_n(from.v + c.src_slot * width, n, to.v + c.dst_slot * width);
    }
  }
}

}  // namespace kvlab::cpu
