// Prefix caching in the paged manager (memory.prefix_caching = true, memory.eviction = lru),
// exact state: what admission finds cached, shared blocks counted once, evictable blocks and
// their LRU order, copy-on-write next to cached blocks, swapping and recomputing a holder of
// shared cached blocks; and a manager without a cache (contiguous) answering 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "policies/memory/paged.h"
#include "tests/memory/kv_test_util.h"

namespace kvlab {
namespace {

using testutil::KvDriver;
using testutil::make_spec;

MemoryConfig cache_config(int64_t capacity, int32_t block_size, int64_t swap = 0) {
  MemoryConfig c;
  c.policy = "paged";
  c.capacity_slots = capacity;
  c.swap_capacity_slots = swap;
  c.settings.set("memory.block_size", std::to_string(block_size));
  c.settings.set("memory.watermark", "0");
  c.settings.set("memory.prefix_caching", "true");
  c.settings.set("memory.eviction", "lru");
  return c;
}

std::unique_ptr<PagedKvCacheManager> make_cached(const MemoryConfig& c) {
  return std::make_unique<PagedKvCacheManager>(c);
}

// Token ids first, first + 1, ..., count of them.
std::vector<int32_t> ids(int32_t first, int32_t count) {
  std::vector<int32_t> out(static_cast<size_t>(count));
  std::iota(out.begin(), out.end(), first);
  return out;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

RequestSpec spec_of(RequestId id, const std::vector<int32_t>& prompt, int32_t output_len,
                    int32_t n = 1) {
  RequestSpec s = make_spec(id, static_cast<int32_t>(prompt.size()), output_len, n);
  s.prompt_tokens = prompt;
  return s;
}

std::vector<int32_t> head(const std::vector<int32_t>& v, size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::min(n, v.size()))};
}

// Distinct device slots holding a computed token of some held sequence: what token_states
// must count, worked out from the layouts alone.
int64_t distinct_computed_slots(const KvCacheManager& kv,
                                const std::vector<const SequenceGroup*>& groups) {
  std::set<int64_t> slots;
  for (const SequenceGroup* g : groups) {
    for (const Sequence& q : g->seqs) {
      if (q.is_finished()) continue;
      const KvLayout l = kv.layout(q);
      for (int32_t i = 0; i < q.num_computed; ++i) slots.insert(l.slot_of(i));
    }
  }
  return static_cast<int64_t>(slots.size());
}

// ---- a. what admission finds ----------------------------------------------------------------

TEST(PrefixCacheAdmission, IdenticalPromptFindsAllButTheBlockOfItsLastToken) {
  auto kv = make_cached(cache_config(1024, 16));
  KvDriver d(*kv);
  const std::vector<int32_t> prompt = ids(1, 64);
  auto a = d.new_group(spec_of(1, prompt, 8));
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(a->seqs[0]), 0) << "nothing is cached before anything ran";
  EXPECT_EQ(kv->prefix_cache_stats().cached_blocks, 0);
  d.prefill(*a);
  EXPECT_EQ(kv->prefix_cache_stats().cached_blocks, 4) << "4 full computed blocks";

  auto b = d.new_group(spec_of(2, prompt, 8));
  // (64 - 1) / 16 = 3 blocks: the last prompt token is always computed, for its logits.
  EXPECT_EQ(kv->probe_cached_prefix(b->seqs[0]), 48);
  ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(b->seqs[0]), 48);
  EXPECT_EQ(b->seqs[0].num_computed, 48);
  const PrefixCacheStats st = kv->prefix_cache_stats();
  EXPECT_TRUE(st.enabled);
  EXPECT_EQ(st.block_size, 16);
  EXPECT_EQ(st.hit_blocks, 3);
  const std::vector<int32_t> ta = kv->block_table(a->seqs[0]);
  const std::vector<int32_t> tb = kv->block_table(b->seqs[0]);
  ASSERT_EQ(tb.size(), 4u);
  EXPECT_EQ(head(tb, 3), head(ta, 3)) << "the cached blocks themselves, not copies";
  EXPECT_NE(tb[3], ta[3]) << "the block holding the last prompt token is its own";
  d.prefill(*b);
  d.expect_data(*a);
  d.expect_data(*b);
  // b computed its last block itself: same identity as a's, which stays the findable one.
  EXPECT_FALSE(kv->is_cached(tb[3]));
  EXPECT_EQ(kv->prefix_cache_stats().cached_blocks, 4);
}

TEST(PrefixCacheAdmission, PromptsThatArePrefixesOfACachedOneFindWholeBlocksBelowTheirLastToken) {
  auto kv = make_cached(cache_config(1024, 16));
  KvDriver d(*kv);
  const std::vector<int32_t> prompt = ids(1, 64);
  auto a = d.new_group(spec_of(1, prompt, 8));
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  d.prefill(*a);
  struct Case {
    int32_t prompt_len;
    int32_t cached;  // 16 * floor((P - 1) / 16)
  };
  RequestId id = 10;
  for (const Case c : {Case{1, 0}, Case{16, 0}, Case{17, 16}, Case{32, 16}, Case{33, 32},
                       Case{48, 32}, Case{49, 48}, Case{64, 48}}) {
    auto g = d.new_group(spec_of(id++, head(prompt, static_cast<size_t>(c.prompt_len)), 4));
    EXPECT_EQ(kv->probe_cached_prefix(g->seqs[0]), c.cached) << "P=" << c.prompt_len;
    ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
    EXPECT_EQ(kv->cached_prefix(g->seqs[0]), c.cached) << "P=" << c.prompt_len;
    d.prefill(*g);
    d.expect_data(*g);
    d.abort(*g);
  }
  // A prompt that differs in its first token finds nothing; one that differs in its 20th
  // finds the first block only.
  std::vector<int32_t> other = prompt;
  other[0] = 999;
  auto x = d.new_group(spec_of(30, other, 4));
  EXPECT_EQ(kv->probe_cached_prefix(x->seqs[0]), 0);
  other = prompt;
  other[19] = 999;
  auto y = d.new_group(spec_of(31, other, 4));
  EXPECT_EQ(kv->probe_cached_prefix(y->seqs[0]), 16);
}

// ---- b. shared blocks counted once ------------------------------------------------------------

TEST(PrefixCacheBreakdown, SharedBlocksAreReferencedTwiceAndCountedOnce) {
  auto kv = make_cached(cache_config(320, 16));  // 20 blocks
  KvDriver d(*kv);
  const std::vector<int32_t> prompt = ids(1, 64);
  auto a = d.new_group(spec_of(1, prompt, 8));  // final length 72
  auto b = d.new_group(spec_of(2, prompt, 8));
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  d.prefill(*a);
  ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
  const std::vector<int32_t> ta = kv->block_table(a->seqs[0]);
  for (int j = 0; j < 3; ++j) EXPECT_EQ(kv->ref_count(ta[static_cast<size_t>(j)]), 2) << j;
  EXPECT_EQ(kv->ref_count(ta[3]), 1);
  EXPECT_EQ(kv->ref_count(kv->block_table(b->seqs[0])[3]), 1);

  auto expect_breakdown = [&](int64_t token_states, int64_t reserved, int64_t internal,
                              int64_t free, const char* when) {
    const MemoryBreakdown m = kv->breakdown(nullptr);
    EXPECT_EQ(m.token_states, token_states) << when;
    EXPECT_EQ(m.token_states, distinct_computed_slots(*kv, {a.get(), b.get()})) << when;
    EXPECT_EQ(m.reserved, reserved) << when;
    EXPECT_EQ(m.internal_frag, internal) << when;
    EXPECT_EQ(m.free, free) << when;
    EXPECT_EQ(m.cached, 0) << when << ": every cached block is in use";
    EXPECT_EQ(m.sum(), m.capacity) << when;
    EXPECT_EQ(m.capacity, 320) << when;
  };
  // a: 64 computed; b: 48 found cached (a's), 16 to compute in its own block; 5 blocks held.
  expect_breakdown(64, 16, 0, 320 - 5 * 16, "b admitted");
  d.prefill(*b);
  expect_breakdown(64 + 16, 0, 0, 320 - 5 * 16, "b prefilled");
  ASSERT_TRUE(d.decode(*a));
  ASSERT_TRUE(d.decode(*b));
  // Each took a fifth block: 65 computed of 72 final, 8 slots past the end.
  expect_breakdown(65 + 65 - 48, 2 * 7, 2 * 8, 320 - 7 * 16, "one decode each");
  while (!a->is_finished()) ASSERT_TRUE(d.decode(*a));
  // a gone: the shared blocks are b's alone; a's own blocks are cached (evictable) or free.
  for (int j = 0; j < 3; ++j) EXPECT_EQ(kv->ref_count(ta[static_cast<size_t>(j)]), 1) << j;
  const MemoryBreakdown m = kv->breakdown(nullptr);
  EXPECT_EQ(m.token_states, b->seqs[0].num_computed);
  EXPECT_EQ(m.cached, 16) << "a's fourth block (its own: b's twin is not findable)";
  EXPECT_EQ(m.sum(), m.capacity);
}

// ---- c. evictable blocks and LRU order ---------------------------------------------------------

TEST(PrefixCacheEviction, FinishedRequestsBlocksAreEvictedOldestFirstTailBeforeHead) {
  auto kv = make_cached(cache_config(128, 16));  // 8 blocks
  KvDriver d(*kv);
  const std::vector<int32_t> prompt_a = ids(1, 32), prompt_b = ids(101, 32);
  // Each finishes in its prompt step (output 1): 2 full computed blocks cached, then freed.
  auto a = d.new_group(spec_of(1, prompt_a, 1));
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  const std::vector<int32_t> ta = kv->block_table(a->seqs[0]);
  d.prefill(*a);
  auto b = d.new_group(spec_of(2, prompt_b, 1));
  ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
  const std::vector<int32_t> tb = kv->block_table(b->seqs[0]);
  d.prefill(*b);
  ASSERT_TRUE(a->is_finished() && b->is_finished());
  EXPECT_EQ(ta, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(tb, (std::vector<int32_t>{2, 3}));

  PrefixCacheStats st = kv->prefix_cache_stats();
  EXPECT_EQ(st.cached_blocks, 4);
  EXPECT_EQ(st.evictable_blocks, 4);
  EXPECT_EQ(st.evicted_blocks, 0);
  MemoryBreakdown m = kv->breakdown(nullptr);
  EXPECT_EQ(m.cached, st.evictable_blocks * 16);
  EXPECT_EQ(m.free, 4 * 16);
  EXPECT_EQ(m.token_states, 0);
  EXPECT_EQ(kv->free_slots(), 128) << "evictable blocks count as free";
  EXPECT_EQ(kv->num_free_blocks(), 8);

  auto probe = [&](const std::vector<int32_t>& prompt) {
    auto g = d.new_group(spec_of(99, prompt, 1));
    return kv->probe_cached_prefix(g->seqs[0]);
  };
  ASSERT_EQ(probe(prompt_a), 16);
  ASSERT_EQ(probe(prompt_b), 16);

  // Unrelated requests (fresh token ids) that need the room; admitted only.
  std::vector<std::unique_ptr<SequenceGroup>> others;
  auto admit_unrelated = [&](int32_t prompt_len) {
    others.push_back(
        d.new_group(make_spec(10 + static_cast<RequestId>(others.size()), prompt_len, 2)));
    ASSERT_EQ(d.try_admit(*others.back()), AllocStatus::kOk);
    EXPECT_EQ(kv->cached_prefix(others.back()->seqs[0]), 0);
  };
  // 5 blocks: the 4 free ones, then the least recently freed cached block: a's tail.
  admit_unrelated(80);
  EXPECT_EQ(kv->prefix_cache_stats().evicted_blocks, 1);
  EXPECT_FALSE(kv->is_cached(ta[1]));
  EXPECT_TRUE(kv->is_cached(ta[0]) && kv->is_cached(tb[0]) && kv->is_cached(tb[1]));
  EXPECT_EQ(probe(prompt_a), 16) << "a's head block is still findable";
  // Then a's head, then b's tail, then b's head.
  admit_unrelated(16);
  EXPECT_EQ(kv->prefix_cache_stats().evicted_blocks, 2);
  EXPECT_FALSE(kv->is_cached(ta[0]));
  EXPECT_EQ(probe(prompt_a), 0);
  EXPECT_EQ(probe(prompt_b), 16);
  admit_unrelated(16);
  EXPECT_FALSE(kv->is_cached(tb[1]));
  EXPECT_TRUE(kv->is_cached(tb[0]));
  admit_unrelated(16);
  EXPECT_FALSE(kv->is_cached(tb[0]));
  EXPECT_EQ(probe(prompt_b), 0);
  st = kv->prefix_cache_stats();
  EXPECT_EQ(st.evicted_blocks, 4);
  EXPECT_EQ(st.cached_blocks, 0);
  EXPECT_EQ(st.evictable_blocks, 0);
  EXPECT_EQ(kv->breakdown(nullptr).cached, 0);
  EXPECT_EQ(kv->can_admit(*d.new_group(make_spec(50, 16, 1))), AllocStatus::kLater);

  // Room again: a request with a's old prompt misses and computes it all.
  for (auto& g : others) d.abort(*g);
  auto again = d.new_group(spec_of(3, prompt_a, 1));
  ASSERT_EQ(d.try_admit(*again), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(again->seqs[0]), 0);
  EXPECT_EQ(kv->prefix_cache_stats().hit_blocks, 0);
}

TEST(PrefixCacheEviction, AHitTakesAnEvictableBlockOutOfTheEvictionOrder) {
  auto kv = make_cached(cache_config(128, 16));  // 8 blocks
  KvDriver d(*kv);
  const std::vector<int32_t> prompt_a = ids(1, 48), prompt_b = ids(101, 48);
  auto a = d.new_group(spec_of(1, prompt_a, 1));
  auto b = d.new_group(spec_of(2, prompt_b, 1));
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  const std::vector<int32_t> ta = kv->block_table(a->seqs[0]);
  d.prefill(*a);
  ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
  const std::vector<int32_t> tb = kv->block_table(b->seqs[0]);
  d.prefill(*b);
  EXPECT_EQ(kv->prefix_cache_stats().evictable_blocks, 6);
  // a's prompt again: takes a's first two blocks (in use now: not evictable) and one of the
  // two free blocks for its last prompt token's block.
  auto a2 = d.new_group(spec_of(3, prompt_a, 4));
  ASSERT_EQ(d.try_admit(*a2), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(a2->seqs[0]), 32);
  EXPECT_EQ(kv->prefix_cache_stats().evictable_blocks, 4);
  EXPECT_EQ(kv->ref_count(ta[0]), 1);
  EXPECT_EQ(kv->ref_count(ta[1]), 1);
  // Four more blocks: the last free one, then a's tail (the oldest evictable), then b's.
  auto big = d.new_group(make_spec(4, 64, 2));
  ASSERT_EQ(d.try_admit(*big), AllocStatus::kOk);
  EXPECT_EQ(kv->prefix_cache_stats().evicted_blocks, 3);
  EXPECT_FALSE(kv->is_cached(ta[2]));
  EXPECT_FALSE(kv->is_cached(tb[2]));
  EXPECT_FALSE(kv->is_cached(tb[1]));
  EXPECT_TRUE(kv->is_cached(tb[0]));
  EXPECT_TRUE(kv->is_cached(ta[0]) && kv->is_cached(ta[1])) << "in use by a2: never evicted";
  d.prefill(*a2);
  d.expect_data(*a2);
}

// ---- d. copy-on-write next to cached blocks -------------------------------------------------

// True when `copies` writes into any of `blocks` (block size `bs`).
bool writes_into(const std::vector<KvCopy>& copies, const std::vector<int32_t>& blocks,
                 int32_t bs) {
  for (const KvCopy& c : copies) {
    for (int32_t b : blocks) {
      const int64_t lo = int64_t{b} * bs, hi = lo + bs;
      if (c.dst_slot < hi && c.dst_slot + c.num_slots > lo) return true;
    }
  }
  return false;
}

TEST(PrefixCacheCopyOnWrite, ForkOfACachedPromptCopiesOnlyThePartialLastBlock) {
  auto kv = make_cached(cache_config(1024, 16));
  KvDriver d(*kv);
  const std::vector<int32_t> prompt = ids(1, 40);
  auto r0 = d.new_group(spec_of(1, prompt, 30));
  ASSERT_EQ(d.try_admit(*r0), AllocStatus::kOk);
  d.prefill(*r0);
  const std::vector<int32_t> t0 = kv->block_table(r0->seqs[0]);
  ASSERT_TRUE(kv->is_cached(t0[0]) && kv->is_cached(t0[1]));
  ASSERT_FALSE(kv->is_cached(t0[2])) << "8 of 16 slots: not full, never cached";

  auto g = d.new_group(spec_of(2, prompt, 30, /*n=*/2));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(g->seqs[0]), 32);
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);
  const std::vector<int32_t> parent = kv->block_table(g->seqs[0]);
  const std::vector<int32_t> child = kv->block_table(g->seqs[1]);
  EXPECT_EQ(parent, child);
  ASSERT_EQ(parent.size(), 3u);
  EXPECT_EQ(head(parent, 2), head(t0, 2));
  EXPECT_EQ(kv->ref_count(t0[0]), 3);
  EXPECT_EQ(kv->ref_count(t0[1]), 3);
  EXPECT_EQ(kv->ref_count(parent[2]), 2);

  ASSERT_TRUE(d.decode(*g));
  // The first sample to append copies the shared partial block (8 filled slots); the second
  // then finds it private. The cached blocks are neither copied nor written.
  ASSERT_EQ(d.last_copies().size(), 1u);
  EXPECT_EQ(d.last_copies()[0].src_slot, int64_t{parent[2]} * 16);
  EXPECT_EQ(d.last_copies()[0].num_slots, 8);
  EXPECT_FALSE(writes_into(d.last_copies(), head(t0, 2), 16));
  const std::vector<int32_t> p1 = kv->block_table(g->seqs[0]);
  const std::vector<int32_t> c1 = kv->block_table(g->seqs[1]);
  EXPECT_EQ(head(p1, 2), head(t0, 2));
  EXPECT_EQ(head(c1, 2), head(t0, 2));
  EXPECT_NE(p1[2], c1[2]);
  EXPECT_EQ(int64_t{p1[2]} * 16, d.last_copies()[0].dst_slot);
  EXPECT_EQ(c1[2], parent[2]);
  // Decode to past the next block boundary: each sample fills and caches its own third
  // block, the cached ones stay put and read back right for everyone.
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(d.decode(*g));
    ASSERT_TRUE(d.decode(*r0));
    EXPECT_FALSE(writes_into(d.last_copies(), head(t0, 2), 16));
    d.expect_data(*g);
    d.expect_data(*r0);
  }
  EXPECT_TRUE(kv->is_cached(p1[2]));
  EXPECT_TRUE(kv->is_cached(c1[2]));
  EXPECT_EQ(kv->block_table(g->seqs[0])[0], t0[0]);
  EXPECT_EQ(kv->block_table(g->seqs[1])[1], t0[1]);
}

TEST(PrefixCacheCopyOnWrite, APromptEndingOnABlockBoundaryForksWithoutCopies) {
  auto kv = make_cached(cache_config(1024, 16));
  KvDriver d(*kv);
  const std::vector<int32_t> prompt = ids(1, 48);
  auto r0 = d.new_group(spec_of(1, prompt, 30));
  ASSERT_EQ(d.try_admit(*r0), AllocStatus::kOk);
  d.prefill(*r0);
  auto g = d.new_group(spec_of(2, prompt, 30, /*n=*/3));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(g->seqs[0]), 32);
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(d.decode(*g));
    EXPECT_TRUE(d.last_copies().empty()) << "decode " << i;
    d.expect_data(*g);
  }
  d.expect_data(*r0);
}

// ---- e. swap and recompute of a holder of shared cached blocks -------------------------------

TEST(PrefixCacheSwap, SwappingOutASharerLeavesTheOtherHolderItsBlocksAndSwapsBackRight) {
  auto kv = make_cached(cache_config(320, 16, /*swap=*/320));
  KvDriver d(*kv);
  const std::vector<int32_t> system = ids(1, 48);
  auto r0 = d.new_group(spec_of(1, system, 40));
  ASSERT_EQ(d.try_admit(*r0), AllocStatus::kOk);
  d.prefill(*r0);
  const std::vector<int32_t> t0 = kv->block_table(r0->seqs[0]);
  auto g = d.new_group(spec_of(2, concat(system, ids(500, 16)), 40));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(g->seqs[0]), 48);
  d.prefill(*g);
  const std::vector<int32_t> tg = kv->block_table(g->seqs[0]);
  ASSERT_EQ(head(tg, 3), t0);
  for (int32_t b : t0) EXPECT_EQ(kv->ref_count(b), 2);
  EXPECT_TRUE(kv->is_cached(tg[3]));

  ASSERT_EQ(d.try_swap_out(*g), AllocStatus::kOk);
  int64_t moved = 0;
  for (const KvCopy& c : d.last_swap_out()) moved += c.num_slots;
  EXPECT_EQ(moved, 64) << "every block of g, the shared ones included";
  EXPECT_EQ(kv->block_table(r0->seqs[0]), t0);
  for (int32_t b : t0) {
    EXPECT_EQ(kv->ref_count(b), 1);
    EXPECT_TRUE(kv->is_cached(b));
  }
  EXPECT_TRUE(kv->is_cached(tg[3])) << "g's own block: evictable now, still findable";
  EXPECT_EQ(kv->prefix_cache_stats().evictable_blocks, 1);
  d.expect_data(*r0);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(d.decode(*r0));
  d.expect_data(*r0);

  ASSERT_EQ(d.try_swap_in(*g), AllocStatus::kOk);  // checks g's data through its new table
  const std::vector<int32_t> back = kv->block_table(g->seqs[0]);
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(g->seqs[0].num_computed, 64);
  for (int32_t b : t0) EXPECT_EQ(kv->ref_count(b), 1) << "g came back with copies of its own";
  kv->audit();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(d.decode(*g));
    ASSERT_TRUE(d.decode(*r0));
  }
  d.expect_data(*g);
  d.expect_data(*r0);

  // Recompute preemption of g: r0's blocks stay, and g finds its prefix again on readmission.
  d.preempt_recompute(*g);
  EXPECT_EQ(kv->block_table(r0->seqs[0]).front(), t0[0]);
  for (int32_t b : t0) EXPECT_EQ(kv->ref_count(b), 1);
  d.expect_data(*r0);
  ASSERT_TRUE(d.decode(*r0));
  d.expect_data(*r0);
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  // 64 prompt tokens and 21 generated: every block but the one of the last two tokens.
  EXPECT_EQ(g->seqs[0].num_tokens(), 85);
  EXPECT_EQ(kv->cached_prefix(g->seqs[0]), 80);
  EXPECT_EQ(head(kv->block_table(g->seqs[0]), 3), t0);
  d.prefill(*g);
  d.expect_data(*g);
  while (!g->is_finished()) ASSERT_TRUE(d.decode(*g));
  while (!r0->is_finished()) ASSERT_TRUE(d.decode(*r0));
  EXPECT_EQ(kv->prefix_cache_stats().evictable_blocks, kv->prefix_cache_stats().cached_blocks);
}

TEST(PrefixCacheSwap, SwappingOutTheFirstHolderLeavesTheSharerItsBlocks) {
  auto kv = make_cached(cache_config(320, 16, /*swap=*/320));
  KvDriver d(*kv);
  const std::vector<int32_t> system = ids(1, 48);
  auto r0 = d.new_group(spec_of(1, system, 40));
  ASSERT_EQ(d.try_admit(*r0), AllocStatus::kOk);
  d.prefill(*r0);
  const std::vector<int32_t> t0 = kv->block_table(r0->seqs[0]);
  auto g = d.new_group(spec_of(2, concat(system, ids(500, 20)), 40));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  d.prefill(*g);
  ASSERT_EQ(d.try_swap_out(*r0), AllocStatus::kOk);
  EXPECT_EQ(head(kv->block_table(g->seqs[0]), 3), t0);
  for (int32_t b : t0) EXPECT_EQ(kv->ref_count(b), 1);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(d.decode(*g));
  d.expect_data(*g);
  // Another request with the system prompt still finds it, held by g alone.
  auto h = d.new_group(spec_of(3, concat(system, ids(700, 5)), 4));
  ASSERT_EQ(d.try_admit(*h), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(h->seqs[0]), 48);
  d.prefill(*h);
  d.expect_data(*h);
  ASSERT_EQ(d.try_swap_in(*r0), AllocStatus::kOk);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(d.decode(*r0));
  d.expect_data(*r0);
  d.expect_data(*g);
}

// The sole holder of cached blocks swapped out: they become evictable; another request takes
// them; eviction meanwhile takes others; the holder swaps back in with its own data.
TEST(PrefixCacheSwap, SoleHolderSwappedOutWhileItsBlocksAreHitAndEvicted) {
  auto kv = make_cached(cache_config(160, 16, /*swap=*/160));  // 10 blocks
  KvDriver d(*kv);
  const std::vector<int32_t> prompt = ids(1, 64);
  auto a = d.new_group(spec_of(1, prompt, 20));
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  d.prefill(*a);
  ASSERT_EQ(d.try_swap_out(*a), AllocStatus::kOk);
  EXPECT_EQ(kv->prefix_cache_stats().evictable_blocks, 4);
  auto b = d.new_group(spec_of(2, head(prompt, 40), 4));
  ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(b->seqs[0]), 32);
  d.prefill(*b);
  // 7 blocks: the 5 free ones, then a's two cached blocks b does not hold, tail first.
  auto filler = d.new_group(make_spec(3, 112, 2));
  ASSERT_EQ(d.try_admit(*filler), AllocStatus::kOk);
  EXPECT_EQ(kv->prefix_cache_stats().evicted_blocks, 2);
  d.prefill(*filler);
  d.abort(*filler);
  ASSERT_EQ(d.try_swap_in(*a), AllocStatus::kOk);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(d.decode(*a));
  d.expect_data(*a);
  d.expect_data(*b);
  auto c = d.new_group(spec_of(4, prompt, 4));
  ASSERT_EQ(d.try_admit(*c), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(c->seqs[0]), 48) << "a's swapped-in blocks are findable again";
  d.prefill(*c);
  d.expect_data(*c);
}

// ---- admission of a group of several sequences ------------------------------------------

// A forked group re-admitted after recompute preemption: each sample looks its own tokens up.
// Regression: admit() used to allocate the first sample's new blocks before looking up the
// second's, so an allocation could evict a block the second sample's lookup (and can_admit's
// count) relied on; when a block it would then have shared in use followed in its chain, the
// second sample needed one block more than can_admit counted and admit() threw "allocation
// from an empty block pool" on an admission can_admit allowed.
TEST(PrefixCacheAdmission, ASampleKeepsTheHitsCanAdmitCountedWhileAnotherAllocates) {
  auto kv = make_cached(cache_config(40, 4));  // 10 blocks of 4
  KvDriver d(*kv);
  const std::vector<int32_t> p = ids(1, 4), a = ids(51, 10), b = ids(11, 10);
  // Sample 1's chain: p, p+b[0..4), p+b[0..8). y computes the first two identities first; x,
  // admitted before, computes them again (copies nobody finds) and the third for the first time.
  auto x = d.new_group(spec_of(1, concat(concat(p, head(b, 8)), {30}), 20));
  auto y = d.new_group(spec_of(2, concat(concat(p, head(b, 4)), {40}), 20));
  ASSERT_EQ(d.try_admit(*x), AllocStatus::kOk);
  ASSERT_EQ(d.try_admit(*y), AllocStatus::kOk);
  d.prefill(*y);
  d.prefill(*x);
  const std::vector<int32_t> tx = kv->block_table(x->seqs[0]);
  const std::vector<int32_t> ty = kv->block_table(y->seqs[0]);
  ASSERT_TRUE(kv->is_cached(ty[0]) && kv->is_cached(ty[1]) && kv->is_cached(tx[2]));
  ASSERT_FALSE(kv->is_cached(tx[0]) || kv->is_cached(tx[1]));
  d.abort(*y);  // y's two cached blocks: evictable, its partial third block free
  auto w = d.new_group(make_spec(3, 8, 1));  // two more evictable blocks, freed after y's
  ASSERT_EQ(d.try_admit(*w), AllocStatus::kOk);
  d.prefill(*w);
  ASSERT_EQ(kv->prefix_cache_stats().evictable_blocks, 4);
  ASSERT_EQ(kv->num_free_blocks(), 6);  // 2 free + 4 evictable; x holds 4

  // The group as recompute leaves it: two samples of 14 tokens (10 generated), nothing held.
  auto g = std::make_unique<SequenceGroup>(spec_of(5, p, 12, /*n=*/2));
  g->seqs[0].token_ids = concat(p, a);
  g->seqs[0].num_generated = 10;
  Sequence& s1 = g->add_child(g->seqs[0], make_seq_id(5, 1));
  s1.token_ids = concat(p, b);
  // Sample 0 finds p (y's block); sample 1 finds p, p+b[0..4) (y's, evictable) and p+b[0..8)
  // (x's, in use): 3 + 1 new blocks and 2 evictable ones taken = 6, all there is.
  EXPECT_EQ(kv->probe_cached_prefix(g->seqs[0]), 4);
  EXPECT_EQ(kv->probe_cached_prefix(s1), 12);
  ASSERT_EQ(kv->can_admit(*g), AllocStatus::kOk);
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_EQ(kv->cached_prefix(g->seqs[0]), 4);
  EXPECT_EQ(kv->cached_prefix(s1), 12);
  const std::vector<int32_t> t1 = kv->block_table(s1);
  EXPECT_EQ(t1[0], ty[0]);
  EXPECT_EQ(t1[1], ty[1]);
  EXPECT_EQ(t1[2], tx[2]);
  EXPECT_EQ(kv->num_free_blocks(), 0);
  d.prefill(*g);
  d.expect_data(*g);
  d.expect_data(*x);
}

// ---- f. a manager without a cache ---------------------------------------------------------------

TEST(PrefixCacheOff, ContiguousAndUncachedPagedFindNothing) {
  MemoryConfig contiguous;
  contiguous.policy = "contiguous";
  contiguous.capacity_slots = 2048;
  contiguous.max_seq_len = 256;
  MemoryConfig paged = cache_config(2048, 16);
  paged.settings.set("memory.prefix_caching", "false");
  for (const MemoryConfig& config : {contiguous, paged}) {
    auto kv = testutil::create_manager(config);
    KvDriver d(*kv);
    const std::vector<int32_t> prompt = ids(1, 64);
    auto a = d.new_group(spec_of(1, prompt, 8));
    ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
    d.prefill(*a);
    auto b = d.new_group(spec_of(2, prompt, 8));
    EXPECT_EQ(kv->probe_cached_prefix(b->seqs[0]), 0) << kv->name();
    ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
    EXPECT_EQ(kv->cached_prefix(b->seqs[0]), 0) << kv->name();
    EXPECT_EQ(b->seqs[0].num_computed, 0);
    const PrefixCacheStats st = kv->prefix_cache_stats();
    EXPECT_FALSE(st.enabled) << kv->name();
    EXPECT_EQ(st.cached_blocks + st.hit_blocks + st.evictable_blocks + st.evicted_blocks, 0);
    EXPECT_EQ(kv->breakdown(nullptr).cached, 0);
  }
}

}  // namespace
}  // namespace kvlab
