#include "kernels/kv_cache_view.h"

#include <string>

#include "core/errors.h"

namespace kvlab {

namespace {

std::string where(size_t seq) { return "KvBatchTables: sequence " + std::to_string(seq) + ": "; }

}  // namespace

KvBatchTables KvBatchTables::build(const std::vector<KvLayout>& layouts,
                                   const std::vector<int32_t>& context_lens, int64_t arena_slots) {
  check_invariant(layouts.size() == context_lens.size(),
                  "KvBatchTables: " + std::to_string(layouts.size()) + " layouts but " +
                      std::to_string(context_lens.size()) + " context lengths");
  check_invariant(!layouts.empty(), "KvBatchTables: empty batch");
  KvBatchTables t;
  t.kind_ = layouts.front().kind;
  t.context_lens_ = context_lens;
  if (t.kind_ == KvLayout::Kind::kPaged) {
    t.block_size_ = layouts.front().block_size;
    check_invariant(t.block_size_ > 0,
                    where(0) + "paged layout with block_size " + std::to_string(t.block_size_));
    t.block_indptr_.reserve(layouts.size() + 1);
    t.block_indptr_.push_back(0);
  } else {
    t.base_slots_.reserve(layouts.size());
  }

  for (size_t i = 0; i < layouts.size(); ++i) {
    const KvLayout& layout = layouts[i];
    const int64_t len = context_lens[i];
    check_invariant(layout.kind == t.kind_, where(i) + "mixes paged and contiguous layouts");
    check_invariant(len >= 0, where(i) + "negative context length " + std::to_string(len));
    if (t.kind_ == KvLayout::Kind::kPaged) {
      check_invariant(layout.block_size == t.block_size_,
                      where(i) + "block_size " + std::to_string(layout.block_size) +
                          " differs from the batch's " + std::to_string(t.block_size_));
      const int64_t blocks = (len + t.block_size_ - 1) / t.block_size_;
      check_invariant(blocks <= static_cast<int64_t>(layout.block_table.size()),
                      where(i) + "context of " + std::to_string(len) + " tokens needs " +
                          std::to_string(blocks) + " blocks, block table holds " +
                          std::to_string(layout.block_table.size()));
      for (int64_t b = 0; b < blocks; ++b) {
        const int32_t block = layout.block_table[static_cast<size_t>(b)];
        check_invariant(block >= 0, where(i) + "negative block id " + std::to_string(block));
        check_invariant(
            arena_slots <= 0 || (static_cast<int64_t>(block) + 1) * t.block_size_ <= arena_slots,
            where(i) + "block " + std::to_string(block) + " lies past the arena (" +
                std::to_string(arena_slots) + " slots)");
        t.block_indices_.push_back(block);
      }
      t.block_indptr_.push_back(static_cast<int32_t>(t.block_indices_.size()));
    } else {
      check_invariant(len <= layout.reserved_slots,
                      where(i) + "context of " + std::to_string(len) + " tokens exceeds the " +
                          std::to_string(layout.reserved_slots) + " reserved slots");
      check_invariant(layout.base_slot >= 0,
                      where(i) + "negative base slot " + std::to_string(layout.base_slot));
      check_invariant(arena_slots <= 0 || layout.base_slot + len <= arena_slots,
                      where(i) + "slots [" + std::to_string(layout.base_slot) + ", " +
                          std::to_string(layout.base_slot + len) + ") lie past the arena (" +
                          std::to_string(arena_slots) + " slots)");
      t.base_slots_.push_back(layout.base_slot);
    }
  }
  return t;
}

KvSeqView KvBatchTables::view() const {
  KvSeqView v;
  v.kind = kind_;
  v.num_seqs = static_cast<int32_t>(context_lens_.size());
  v.context_lens = context_lens_.data();
  v.block_size = block_size_;
  if (kind_ == KvLayout::Kind::kPaged) {
    v.block_indptr = block_indptr_.data();
    v.block_indices = block_indices_.data();
  } else {
    v.base_slots = base_slots_.data();
  }
  return v;
}

}  // namespace kvlab
