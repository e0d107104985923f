// KvBatchTables / KvSeqView: the view maps every token to the slot KvLayout::slot_of gives,
// slot runs cover the context in order, and bad layouts are refused.
#include "kernels/kv_cache_view.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/errors.h"
#include "tests/kernels/kernel_test_util.h"

namespace kvlab {
namespace {

using testing::LayoutAllocator;

struct SlotRun {
  int64_t token, slot, count;
};

std::vector<SlotRun> runs_of(const KvSeqView& view, int32_t seq, int64_t len) {
  std::vector<SlotRun> runs;
  for_each_slot_run(view, seq, len, [&](int64_t t, int64_t s, int64_t n) {
    runs.push_back({t, s, n});
  });
  return runs;
}

void expect_view_matches_layouts(const std::vector<KvLayout>& layouts,
                                 const std::vector<int32_t>& lens) {
  const KvBatchTables tables = KvBatchTables::build(layouts, lens);
  const KvSeqView view = tables.view();
  ASSERT_EQ(view.num_seqs, static_cast<int32_t>(layouts.size()));
  for (int32_t i = 0; i < view.num_seqs; ++i) {
    EXPECT_EQ(view.context_lens[i], lens[static_cast<size_t>(i)]);
    for (int64_t t = 0; t < lens[static_cast<size_t>(i)]; ++t) {
      ASSERT_EQ(view.slot_of(i, t), layouts[static_cast<size_t>(i)].slot_of(t))
          << "seq " << i << " token " << t;
    }
    // Runs tile [0, len) in order and agree with slot_of token by token.
    int64_t next = 0;
    for (const SlotRun& r : runs_of(view, i, lens[static_cast<size_t>(i)])) {
      EXPECT_EQ(r.token, next);
      EXPECT_GT(r.count, 0);
      for (int64_t k = 0; k < r.count; ++k) EXPECT_EQ(view.slot_of(i, r.token + k), r.slot + k);
      next += r.count;
    }
    EXPECT_EQ(next, lens[static_cast<size_t>(i)]);
  }
}

TEST(KvCacheView, PagedShuffledBlocksMatchLayoutAcrossBlockSizes) {
  for (int32_t bs : {1, 2, 16, 128}) {
    SCOPED_TRACE(bs);
    auto alloc = LayoutAllocator::paged(bs, 4096, /*shuffle=*/true);
    const std::vector<int32_t> lens = {1, 17, 129, 300};
    std::vector<KvLayout> layouts;
    for (int32_t len : lens) layouts.push_back(alloc.allocate(len + 5));  // spare capacity
    expect_view_matches_layouts(layouts, lens);
    // Block tables are trimmed to what the context uses.
    const KvBatchTables t = KvBatchTables::build(layouts, lens);
    EXPECT_EQ(t.block_indptr().back(),
              (1 + bs - 1) / bs + (17 + bs - 1) / bs + (129 + bs - 1) / bs + (300 + bs - 1) / bs);
  }
}

TEST(KvCacheView, ContiguousIsOneRunFromTheBase) {
  auto alloc = LayoutAllocator::contiguous(2048);
  std::vector<KvLayout> layouts = {alloc.allocate(10), alloc.allocate(300), alloc.allocate(7)};
  const std::vector<int32_t> lens = {10, 257, 1};
  expect_view_matches_layouts(layouts, lens);
  const KvBatchTables tables = KvBatchTables::build(layouts, lens);
  const KvSeqView view = tables.view();
  EXPECT_EQ(view.kind, KvLayout::Kind::kContiguous);
  EXPECT_EQ(view.block_indptr, nullptr);
  const std::vector<SlotRun> runs = runs_of(view, 1, 257);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].slot, layouts[1].base_slot);
  EXPECT_EQ(runs[0].count, 257);
}

TEST(KvCacheView, AdjacentBlocksMergeIntoOneRun) {
  KvLayout layout;
  layout.kind = KvLayout::Kind::kPaged;
  layout.block_size = 4;
  layout.block_table = {5, 6, 7, 2, 3, 9};
  const KvBatchTables tables = KvBatchTables::build({layout}, {22});
  const std::vector<SlotRun> runs = runs_of(tables.view(), 0, 22);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].slot, 20);
  EXPECT_EQ(runs[0].count, 12);
  EXPECT_EQ(runs[1].token, 12);
  EXPECT_EQ(runs[1].slot, 8);
  EXPECT_EQ(runs[1].count, 8);
  EXPECT_EQ(runs[2].token, 20);
  EXPECT_EQ(runs[2].slot, 36);
  EXPECT_EQ(runs[2].count, 2);
}

TEST(KvCacheView, RefusesBadLayouts) {
  KvLayout paged;
  paged.kind = KvLayout::Kind::kPaged;
  paged.block_size = 16;
  paged.block_table = {3, 1};
  KvLayout contiguous;
  contiguous.kind = KvLayout::Kind::kContiguous;
  contiguous.base_slot = 100;
  contiguous.reserved_slots = 20;

  EXPECT_NO_THROW(KvBatchTables::build({paged}, {32}));
  EXPECT_THROW(KvBatchTables::build({paged}, {33}), InvariantError);      // needs 3 blocks
  EXPECT_THROW(KvBatchTables::build({paged}, {32}, 63), InvariantError);  // block 3 past arena
  EXPECT_THROW(KvBatchTables::build({paged, contiguous}, {1, 1}), InvariantError);  // mixed
  KvLayout other_size = paged;
  other_size.block_size = 8;
  EXPECT_THROW(KvBatchTables::build({paged, other_size}, {1, 1}), InvariantError);
  EXPECT_NO_THROW(KvBatchTables::build({contiguous}, {20}, 120));
  EXPECT_THROW(KvBatchTables::build({contiguous}, {21}), InvariantError);  // past reservation
  EXPECT_THROW(KvBatchTables::build({contiguous}, {20}, 119), InvariantError);
  EXPECT_THROW(KvBatchTables::build({contiguous}, {}), InvariantError);
  EXPECT_THROW(KvBatchTables::build({}, {}), InvariantError);
}

}  // namespace
}  // namespace kvlab
