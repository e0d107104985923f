#include "kernels/cpu/cache_write.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/errors.h"

namespace kvlab::cpu {

namespace {

// Checks the shapes and calls write(row's K, row's V, slot, head) with pointers to the row's
// head_dim values of each KV head, for every row whose slot is not negative.
template <typename Cache, typename Write>
void for_each_head_written(const MatrixCRef& k, const MatrixCRef& v,
                           std::span<const int64_t> slot_mapping, const Cache& cache,
                           Write write) {
  const Eigen::Index width = static_cast<Eigen::Index>(cache.num_kv_heads) * cache.head_dim;
  check_invariant(k.cols() == width && v.cols() == width && k.rows() == v.rows() &&
                      static_cast<Eigen::Index>(slot_mapping.size()) == k.rows(),
                  "write_kv: shape mismatch");
  for (Eigen::Index r = 0; r < k.rows(); ++r) {
    const int64_t slot = slot_mapping[static_cast<size_t>(r)];
    if (slot < 0) continue;
    check_invariant(slot < cache.num_slots, "write_kv: slot " + std::to_string(slot) +
                                                " past the arena's " +
                                                std::to_string(cache.num_slots));
    for (int32_t h = 0; h < cache.num_kv_heads; ++h) {
      const Eigen::Index col = static_cast<Eigen::Index>(h) * cache.head_dim;
      write(k.row(r).data() + col, v.row(r).data() + col, slot, h);
    }
  }
}

}  // namespace

void write_kv(const MatrixCRef& k, const MatrixCRef& v, std::span<const int64_t> slot_mapping,
              const KvArenaView<float>& arena) {
  for_each_head_written(k, v, slot_mapping, arena,
                        [&](const float* kr, const float* vr, int64_t slot, int32_t h) {
                          std::copy_n(kr, arena.head_dim, arena.k_at(slot, h));
                          std::copy_n(vr, arena.head_dim, arena.v_at(slot, h));
                        });
}

void write_kv(const MatrixCRef& k, const MatrixCRef& v, std::span<const int64_t> slot_mapping,
              const KvLayerStore& store) {
  if (store.dtype == KvDtype::kFp32) {
    write_kv(k, v, slot_mapping, store.as_fp32());
    return;
  }
  for_each_head_written(k, v, slot_mapping, store,
                        [&](const float* kr, const float* vr, int64_t slot, int32_t h) {
                          quantize_kv(store.dtype, kr, store.head_dim, store.k_at(slot, h),
                                      store.k_scale_at(slot, h));
                          quantize_kv(store.dtype, vr, store.head_dim, store.v_at(slot, h),
                                      store.v_scale_at(slot, h));
                        });
}

void append_slot_mapping(const KvLayout& layout, int32_t start, int32_t num_tokens,
                         std::vector<int64_t>& slot_mapping) {
  if (num_tokens <= 0) return;
  const int64_t end = static_cast<int64_t>(start) + num_tokens;
  const bool fits =
      layout.kind == KvLayout::Kind::kContiguous
          ? end <= layout.reserved_slots
          : layout.block_size > 0 && (end + layout.block_size - 1) / layout.block_size <=
                                         static_cast<int64_t>(layout.block_table.size());
  check_invariant(start >= 0 && fits, "append_slot_mapping: tokens [" + std::to_string(start) +
                                          ", " + std::to_string(end) +
                                          ") do not fit the sequence's layout");
  for (int32_t t = start; t < start + num_tokens; ++t) slot_mapping.push_back(layout.slot_of(t));
}

}  // namespace kvlab::cpu
