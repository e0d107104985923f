// PagedKvCacheManager, exact state: configuration errors, block tables and reference counts,
// copy-on-write copies, the watermark and "never" footprints, swap of shared blocks, and the
// breakdown for known requests (tables of expected values per step).
#include "policies/memory/paged.h"

#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "core/errors.h"
#include "tests/memory/kv_test_util.h"

namespace kvlab {
namespace {

using testutil::KvDriver;
using testutil::make_spec;

MemoryConfig paged_config(int64_t capacity, int32_t block_size, double watermark = 0.0,
                          int64_t swap = 0) {
  MemoryConfig c;
  c.policy = "paged";
  c.capacity_slots = capacity;
  c.settings.set("memory.block_size", std::to_string(block_size));
  c.settings.set("memory.watermark", std::to_string(watermark));
  c.swap_capacity_slots = swap;
  return c;
}

std::unique_ptr<PagedKvCacheManager> make_paged(const MemoryConfig& c) {
  return std::make_unique<PagedKvCacheManager>(c);
}

// The InputError message for `config`, created by name as the Engine does.
std::string creation_error(const MemoryConfig& config) {
  try {
    memory_policies().create("paged", config);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

MemoryBreakdown expected(int64_t token_states, int64_t reserved, int64_t internal_frag,
                         int64_t free, int64_t capacity) {
  MemoryBreakdown b;
  b.token_states = token_states;
  b.reserved = reserved;
  b.internal_frag = internal_frag;
  b.free = free;
  b.capacity = capacity;
  return b;
}

std::string describe(const MemoryBreakdown& b) {
  return "{token_states " + std::to_string(b.token_states) + ", reserved " +
         std::to_string(b.reserved) + ", internal " + std::to_string(b.internal_frag) +
         ", external " + std::to_string(b.external_frag) + ", free " + std::to_string(b.free) +
         ", capacity " + std::to_string(b.capacity) + "}";
}

TEST(PagedConfig, RejectsBlockSizesOutsideOneTo256NamingTheField) {
  for (int32_t bad : {0, -1, 257, 1024}) {
    const std::string message = creation_error(paged_config(4096, bad));
    EXPECT_NE(message.find("field 'memory.block_size': "), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(bad)), std::string::npos) << message;
  }
  for (int32_t good : {1, 16, 256}) EXPECT_EQ(creation_error(paged_config(4096, good)), "");
}

TEST(PagedConfig, RejectsCapacitiesBelowOneBlockAndBadWatermarks) {
  EXPECT_NE(creation_error(paged_config(15, 16)).find("memory.capacity_slots"), std::string::npos);
  EXPECT_NE(creation_error(paged_config(0, 1)).find("memory.capacity_slots"), std::string::npos);
  EXPECT_NE(creation_error(paged_config(64, 16, 0.0, -1)).find("memory.swap_capacity_slots"),
            std::string::npos);
  EXPECT_NE(creation_error(paged_config(64, 16, 1.0)).find("memory.watermark"), std::string::npos);
  EXPECT_NE(creation_error(paged_config(64, 16, -0.1)).find("memory.watermark"), std::string::npos);
}

TEST(PagedConfig, CapacityIsWholeBlocks) {
  auto kv = make_paged(paged_config(1000, 16, 0.05, 100));
  EXPECT_EQ(kv->name(), "paged(block_size=16)");
  EXPECT_EQ(kv->num_blocks(), 62);
  EXPECT_EQ(kv->capacity_slots(), 992);
  EXPECT_EQ(kv->num_host_blocks(), 6);
  EXPECT_EQ(kv->host_capacity_slots(), 96);
  EXPECT_EQ(kv->watermark_blocks(), 3);  // floor(0.05 * 62), as vLLM
  EXPECT_EQ(kv->free_slots(), 992);
}

TEST(PagedBlocks, FreshPoolHandsOutBlocksInOrderAndReusesTheLatestFreed) {
  auto kv = make_paged(paged_config(160, 16));
  KvDriver d(*kv);
  auto a = d.new_group(make_spec(1, 40, 8));  // 3 blocks
  auto b = d.new_group(make_spec(2, 20, 8));  // 2 blocks
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
  EXPECT_EQ(kv->layout(a->seqs[0]).block_table, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(kv->layout(b->seqs[0]).block_table, (std::vector<int32_t>{3, 4}));
  d.abort(*a);
  auto c = d.new_group(make_spec(3, 33, 8));  // 3 blocks: a's, front first
  ASSERT_EQ(d.try_admit(*c), AllocStatus::kOk);
  EXPECT_EQ(kv->layout(c->seqs[0]).block_table, (std::vector<int32_t>{0, 1, 2}));
  const KvLayout l = kv->layout(c->seqs[0]);
  EXPECT_EQ(l.kind, KvLayout::Kind::kPaged);
  EXPECT_EQ(l.block_size, 16);
  EXPECT_EQ(l.slot_of(17), 1 * 16 + 1);
}

// One request through its life, block_size 16, final length 30: the expected breakdown per
// step (token_states, reserved, internal_frag, free).
TEST(PagedBreakdown, KnownRequestStepByStep) {
  auto kv = make_paged(paged_config(1024, 16));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 20, 10));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  // Two blocks (32 slots) for 20 prompt tokens: 30 will be used, 2 never.
  EXPECT_EQ(kv->breakdown(nullptr), expected(0, 30, 2, 992, 1024));
  d.prefill(*g);
  EXPECT_EQ(kv->breakdown(nullptr), expected(20, 10, 2, 992, 1024));
  const Sequence& s = g->seqs[0];
  while (!g->is_finished()) {
    ASSERT_TRUE(d.decode(*g));
    if (g->is_finished()) break;
    // The last token sampled is never processed, so it never needs a slot.
    EXPECT_EQ(kv->breakdown(nullptr), expected(s.num_computed, 30 - s.num_computed, 2, 992, 1024))
        << describe(kv->breakdown(nullptr));
  }
  EXPECT_EQ(kv->breakdown(nullptr), expected(0, 0, 0, 1024, 1024));
}

TEST(PagedBreakdown, KnownRequestsTogether) {
  auto kv = make_paged(paged_config(1024, 16));
  KvDriver d(*kv);
  auto a = d.new_group(make_spec(1, 5, 3));      // final 8: 1 block, 8 slots past the end
  auto b = d.new_group(make_spec(2, 16, 40));    // final 56: 1 full block now
  auto c = d.new_group(make_spec(3, 100, 100));  // final 200: 7 blocks (112 slots)
  for (auto* g : {a.get(), b.get(), c.get()}) ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_EQ(kv->breakdown(nullptr), expected(0, 5 + 3 + 16 + 112, 8, 1024 - 144, 1024));
  for (auto* g : {a.get(), b.get(), c.get()}) d.prefill(*g);
  EXPECT_EQ(kv->breakdown(nullptr), expected(121, 3 + 0 + 12, 8, 1024 - 144, 1024));
  for (auto* g : {a.get(), b.get(), c.get()}) ASSERT_TRUE(d.decode(*g));
  // b crossed into a second block (16 more slots, all below its final length).
  EXPECT_EQ(kv->breakdown(nullptr), expected(124, 2 + 15 + 11, 8, 1024 - 160, 1024));
}

TEST(PagedBreakdown, InternalFragmentationStaysBelowOneBlockPerSequence) {
  for (int32_t block_size : {1, 16, 256}) {
    SCOPED_TRACE("block_size " + std::to_string(block_size));
    auto kv = make_paged(paged_config(8192, block_size));
    KvDriver d(*kv);
    testutil::Rng rng(11);
    std::vector<std::unique_ptr<SequenceGroup>> groups;
    for (int id = 1; id <= 12; ++id) {
      groups.push_back(d.new_group(make_spec(id, static_cast<int32_t>(rng.uniform(1, 150)),
                                             static_cast<int32_t>(rng.uniform(1, 150)))));
      ASSERT_EQ(d.try_admit(*groups.back()), AllocStatus::kOk);
      d.prefill(*groups.back());
    }
    for (bool any = true; any;) {
      any = false;
      int64_t live = 0;
      for (auto& g : groups) {
        if (g->is_finished()) continue;
        ASSERT_TRUE(d.decode(*g));
        live += g->is_finished() ? 0 : 1;
        any = true;
      }
      const MemoryBreakdown b = kv->breakdown(nullptr);
      EXPECT_LE(b.internal_frag, live * (block_size - 1));
      EXPECT_EQ(b.external_frag, 0);
      if (block_size == 1) {
        EXPECT_EQ(b.internal_frag, 0);
      }
    }
  }
}

// Fork then append with block_size 16 and a 20-token prompt: the partly filled second block
// is shared by three samples; the first two appends copy its 4 filled slots, the third finds
// it private.
TEST(PagedCopyOnWrite, CopiesExactlyTheFilledSlotsOfASharedLastBlock) {
  auto kv = make_paged(paged_config(1024, 16));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 20, 10, 3));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);
  for (const Sequence& s : g->seqs) {
    EXPECT_EQ(kv->block_table(s), (std::vector<int32_t>{0, 1}));
  }
  EXPECT_EQ(kv->ref_count(0), 3);
  EXPECT_EQ(kv->ref_count(1), 3);
  // Shared slots count once: 20 computed tokens; of block 1's 12 empty slots, 10 will hold
  // tokens (final length 30) and 2 never will.
  EXPECT_EQ(kv->breakdown(nullptr), expected(20, 10, 2, 1024 - 32, 1024));

  EXPECT_EQ(kv->append_slot(g->seqs[0]), (std::vector<KvCopy>{{16, 32, 4}}));
  EXPECT_EQ(kv->append_slot(g->seqs[1]), (std::vector<KvCopy>{{16, 48, 4}}));
  EXPECT_TRUE(kv->append_slot(g->seqs[2]).empty());
  EXPECT_EQ(kv->block_table(g->seqs[0]), (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(kv->block_table(g->seqs[1]), (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(kv->block_table(g->seqs[2]), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(kv->ref_count(0), 3);
  EXPECT_EQ(kv->ref_count(1), 1);
  kv->audit();
  // The prompt's first block once (16) and three copies of the last 4 prompt tokens.
  EXPECT_EQ(kv->breakdown(nullptr).token_states, 16 + 3 * 4);
  // Finish the step as the driver would (copies, compute, sample) and check the data.
  d.arena().copy_device({{16, 32, 4}, {16, 48, 4}});
  for (Sequence& s : g->seqs) {
    d.arena().write(*kv, s, s.num_computed, s.num_computed + 1);
    s.num_computed += 1;
    s.token_ids.push_back(d.tokens().next());
    s.num_generated += 1;
  }
  d.expect_data(*g);
  while (!g->is_finished()) ASSERT_TRUE(d.decode(*g));
  EXPECT_EQ(kv->free_slots(), 1024);
}

TEST(PagedCopyOnWrite, NoCopyWhenThePromptEndsOnABlockBoundary) {
  auto kv = make_paged(paged_config(1024, 16));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 32, 10, 3));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);
  EXPECT_EQ(kv->breakdown(nullptr), expected(32, 0, 0, 1024 - 32, 1024));
  const int32_t free_before = kv->num_free_blocks();
  for (const Sequence& s : g->seqs) EXPECT_TRUE(kv->append_slot(s).empty());
  EXPECT_EQ(kv->num_free_blocks(), free_before - 3);
  EXPECT_EQ(kv->ref_count(0), 3);
  EXPECT_EQ(kv->ref_count(1), 3);
  kv->audit();
}

TEST(PagedCopyOnWrite, CanAppendCountsTheBlocksCopyOnWriteNeeds) {
  // 10 blocks. A 3-sample group on a shared partial block needs 2 new blocks to append.
  for (int32_t filler_blocks : {6, 7}) {
    auto kv = make_paged(paged_config(160, 16));
    KvDriver d(*kv);
    auto g = d.new_group(make_spec(1, 20, 10, 3));
    ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
    ASSERT_TRUE(d.prefill(*g));
    d.fork_samples(*g);
    auto filler = d.new_group(make_spec(2, 16 * filler_blocks, 1000));
    ASSERT_EQ(kv->can_admit(*filler), AllocStatus::kNever);  // it could never finish
    auto small = d.new_group(make_spec(3, 16 * filler_blocks, 1));
    ASSERT_EQ(d.try_admit(*small), AllocStatus::kOk);
    EXPECT_EQ(kv->num_free_blocks(), 8 - filler_blocks);
    EXPECT_EQ(kv->can_append(*g), filler_blocks == 6);
  }
  // All three on a full last block: each needs its own new block.
  auto kv = make_paged(paged_config(160, 16));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 32, 10, 3));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);
  auto filler = d.new_group(make_spec(2, 16 * 6, 1));
  ASSERT_EQ(d.try_admit(*filler), AllocStatus::kOk);
  EXPECT_EQ(kv->num_free_blocks(), 2);
  EXPECT_FALSE(kv->can_append(*g));
}

TEST(PagedAdmission, WatermarkKeepsBlocksFreeAtAdmission) {
  // 100 blocks of 10; watermark 5%: 5 blocks.
  auto kv = make_paged(paged_config(1000, 10, 0.05));
  ASSERT_EQ(kv->watermark_blocks(), 5);
  KvDriver d(*kv);
  auto fits = d.new_group(make_spec(1, 945, 5));  // 95 blocks at full length: the limit
  auto over = d.new_group(make_spec(2, 945, 6));  // 96: never
  EXPECT_EQ(kv->can_admit(*fits), AllocStatus::kOk);
  EXPECT_EQ(kv->can_admit(*over), AllocStatus::kNever);
  auto first = d.new_group(make_spec(3, 100, 10));  // 10 blocks
  ASSERT_EQ(d.try_admit(*first), AllocStatus::kOk);
  ASSERT_EQ(kv->num_free_blocks(), 90);
  auto needs_86 = d.new_group(make_spec(4, 860, 10));  // 90 - 86 = 4 < 5 free after
  auto needs_85 = d.new_group(make_spec(5, 850, 10));  // 90 - 85 = 5 free after
  EXPECT_EQ(kv->can_admit(*needs_86), AllocStatus::kLater);
  EXPECT_EQ(kv->can_admit(*needs_85), AllocStatus::kOk);
  ASSERT_EQ(d.try_admit(*needs_85), AllocStatus::kOk);
  EXPECT_EQ(kv->num_free_blocks(), 5);
  // Growth may use the watermark's blocks: it only guards admission.
  d.prefill(*first);
  for (int i = 0; i < 10 && !first->is_finished(); ++i) ASSERT_TRUE(d.decode(*first));
  EXPECT_TRUE(first->is_finished());
  d.abort(*needs_85);
  EXPECT_EQ(kv->free_slots(), 1000);
}

TEST(PagedAdmission, WatermarkAppliesToSwapIn) {
  auto kv = make_paged(paged_config(1000, 10, 0.05, 1000));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 300, 10));  // 30 blocks
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  d.prefill(*g);
  ASSERT_EQ(d.try_swap_out(*g), AllocStatus::kOk);
  auto filler = d.new_group(make_spec(2, 660, 10));  // 66 blocks: 34 free
  ASSERT_EQ(d.try_admit(*filler), AllocStatus::kOk);
  EXPECT_EQ(kv->can_swap_in(*g), AllocStatus::kLater);  // 34 - 30 = 4 < 5
  d.abort(*filler);
  auto smaller = d.new_group(make_spec(3, 650, 10));  // 65 blocks: 35 free
  ASSERT_EQ(d.try_admit(*smaller), AllocStatus::kOk);
  EXPECT_EQ(d.try_swap_in(*g), AllocStatus::kOk);  // 35 - 30 = 5
}

// vLLM's "never" uses the prompt only; ours the footprint at full length: blocks(prompt +
// output) for the first sample and, for each other sample, all but the full prompt blocks.
TEST(PagedAdmission, NeverUsesTheFullLengthFootprintWithSharedPromptBlocks) {
  auto kv = make_paged(paged_config(1024, 16));  // 64 blocks
  KvDriver d(*kv);
  // prompt 100 = 6 full blocks + 4; final 128 = 8 blocks; each extra sample needs 2.
  auto n29 = d.new_group(make_spec(1, 100, 28, 29));  // 8 + 28 * 2 = 64
  auto n30 = d.new_group(make_spec(2, 100, 28, 30));  // 66
  EXPECT_EQ(kv->can_admit(*n29), AllocStatus::kOk);
  EXPECT_EQ(kv->can_admit(*n30), AllocStatus::kNever);
  // Admission allocates the prompt once; fork shares it.
  ASSERT_EQ(d.try_admit(*n29), AllocStatus::kOk);
  EXPECT_EQ(kv->num_free_blocks(), 64 - 7);
  ASSERT_TRUE(d.prefill(*n29));
  d.fork_samples(*n29);
  EXPECT_EQ(kv->num_free_blocks(), 64 - 7);
  // The whole group runs to its end within the arena, as the footprint promised.
  while (!n29->is_finished()) ASSERT_TRUE(d.decode(*n29));
  EXPECT_EQ(kv->free_slots(), 1024);
}

TEST(PagedAdmission, ReadmittedForkedGroupGivesEachSampleItsOwnBlocks) {
  auto kv = make_paged(paged_config(1024, 16));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 40, 20, 3));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(d.decode(*g));
  d.preempt_recompute(*g);
  EXPECT_EQ(kv->free_slots(), 1024);
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  // 44 tokens each, 3 blocks each, nothing shared.
  EXPECT_EQ(kv->num_free_blocks(), 64 - 9);
  for (const Sequence& s : g->seqs) {
    for (int32_t b : kv->block_table(s)) EXPECT_EQ(kv->ref_count(b), 1);
  }
}

TEST(PagedSwap, SharedBlocksMoveOnceAndStayShared) {
  auto kv = make_paged(paged_config(1024, 16, 0.0, 1024));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 20, 30, 3));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);
  ASSERT_TRUE(d.decode(*g));
  ASSERT_TRUE(d.decode(*g));
  // Block 0 shared by three; three private last blocks of 6 computed tokens (22 each).
  const MemoryBreakdown before = kv->breakdown(nullptr);
  EXPECT_EQ(before.token_states, 16 + 3 * 6);
  ASSERT_EQ(d.try_swap_out(*g), AllocStatus::kOk);
  EXPECT_EQ(kv->num_free_host_blocks(), 64 - 4);
  int64_t moved = 0;
  for (const KvCopy& c : d.last_swap_out()) moved += c.num_slots;
  EXPECT_EQ(moved, 16 + 3 * 6);
  for (const Sequence& s : g->seqs) EXPECT_TRUE(kv->is_swapped(s));
  EXPECT_THROW(kv->layout(g->seqs[0]), InvariantError);
  EXPECT_EQ(kv->free_slots(), 1024);
  ASSERT_EQ(d.try_swap_in(*g), AllocStatus::kOk);
  EXPECT_EQ(kv->num_free_host_blocks(), 64);
  const int32_t shared = kv->block_table(g->seqs[0])[0];
  for (const Sequence& s : g->seqs) EXPECT_EQ(kv->block_table(s)[0], shared);
  EXPECT_EQ(kv->ref_count(shared), 3);
  EXPECT_EQ(kv->breakdown(nullptr), before);
  while (!g->is_finished()) ASSERT_TRUE(d.decode(*g));
}

TEST(PagedSwap, AdjacentBlocksCoalesceIntoOneCopy) {
  auto kv = make_paged(paged_config(1024, 16, 0.0, 1024));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 40, 10));  // blocks 0, 1, 2 -> host 0, 1, 2
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  d.prefill(*g);
  ASSERT_EQ(d.try_swap_out(*g), AllocStatus::kOk);
  EXPECT_EQ(d.last_swap_out(), (std::vector<KvCopy>{{0, 0, 40}}));
  ASSERT_EQ(d.try_swap_in(*g), AllocStatus::kOk);
  EXPECT_EQ(d.last_swap_in(), (std::vector<KvCopy>{{0, 0, 40}}));
}

TEST(PagedSwap, SwapOutAnswersByHostBlocks) {
  auto kv = make_paged(paged_config(1024, 16, 0.0, 64));  // 4 host blocks
  KvDriver d(*kv);
  auto five = d.new_group(make_spec(1, 70, 10));   // 5 blocks
  auto three = d.new_group(make_spec(2, 40, 10));  // 3 blocks
  auto two = d.new_group(make_spec(3, 20, 10));    // 2 blocks
  for (auto* g : {five.get(), three.get(), two.get()}) {
    ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
    d.prefill(*g);
  }
  EXPECT_EQ(kv->can_swap_out(*five), AllocStatus::kNever);
  ASSERT_EQ(d.try_swap_out(*three), AllocStatus::kOk);
  EXPECT_EQ(kv->can_swap_out(*two), AllocStatus::kLater);
  ASSERT_EQ(d.try_swap_in(*three), AllocStatus::kOk);
  EXPECT_EQ(d.try_swap_out(*two), AllocStatus::kOk);
}

TEST(PagedContract, PreconditionViolationsThrow) {
  auto kv = make_paged(paged_config(1024, 16));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 20, 10, 2));
  auto other = d.new_group(make_spec(2, 20, 10));
  kv->release(other->seqs[0]);  // holds nothing: a no-op
  EXPECT_THROW(kv->layout(other->seqs[0]), InvariantError);
  EXPECT_THROW(kv->append_slot(other->seqs[0]), InvariantError);
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_THROW(kv->admit(*g), InvariantError);  // twice
  // The prompt is not computed yet: sharing it would share KV not written.
  Sequence& child = g->add_child(g->seqs[0], make_seq_id(1, 1));
  EXPECT_THROW(kv->fork(g->seqs[0], child), InvariantError);
  // No token pending: nothing to append a slot for.
  EXPECT_THROW(kv->append_slot(g->seqs[0]), InvariantError);
  kv->audit();
}

}  // namespace
}  // namespace kvlab
