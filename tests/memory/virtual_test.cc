// The virtual-memory (vAttention) manager in exact states: page arithmetic from the KV layout,
// pages mapped as tokens arrive and unmapped (or kept, deferring) at release, eager mapping,
// the finite virtual space, the breakdown and the virtual layout a VMM back end maps from.
// The contract shared with every other manager is in conformance_test.cc and property_test.cc.
#include "policies/memory/virtual.h"

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/model_spec.h"
#include "tests/memory/kv_test_util.h"

namespace kvlab {
namespace {

using testutil::KvDriver;
using testutil::make_spec;

constexpr int64_t kTensorBytes = 8192;  // 8 KiB per token per layer per K or V: 64 KiB = 8
constexpr int32_t kLayers = 2;

MemoryConfig virtual_config(int64_t capacity, const std::string& page_size, int32_t max_seq_len,
                            int64_t swap = 0) {
  MemoryConfig c;
  c.policy = "virtual";
  c.capacity_slots = capacity;
  c.swap_capacity_slots = swap;
  c.max_seq_len = max_seq_len;
  c.kv_tensor_bytes_per_token = kTensorBytes;
  c.kv_layers = kLayers;
  c.settings.set("memory.page_size", page_size);
  return c;
}

std::unique_ptr<KvCacheManager> make(const MemoryConfig& c) {
  return memory_policies().create("virtual", c);
}

std::string input_error_field(const MemoryConfig& c) {
  try {
    make(c);
  } catch (const InputError& e) {
    return e.field();
  }
  return "";
}

// Pages (one per layer and K/V tensor) mapped and unmapped so far.
std::pair<int64_t, int64_t> mapping(const KvCacheManager& kv) {
  const VirtualMemoryStats s = kv.virtual_memory_stats();
  return {s.pages_mapped, s.pages_unmapped};
}
constexpr int64_t kPagesPerGroup = 2 * kLayers;

TEST(VirtualPages, TokensPerPageFollowTheModelsKvLayout) {
  // bytes per token per layer per K or V tensor = kv_heads x head_dim x dtype bytes.
  struct Want {
    const char* model;
    int64_t tensor_bytes;
    int32_t per_64k, per_2m;
  };
  for (const Want& w : {Want{"llama-2-7b", 32 * 128 * 2, 8, 256},
                        Want{"llama-3-8b", 8 * 128 * 2, 32, 1024},  // GQA: 8 KV heads
                        Want{"opt-13b", 40 * 128 * 2, 6, 204}}) {
    const ModelSpec& m = model_catalog().get(w.model);
    const int64_t bytes = static_cast<int64_t>(m.num_kv_heads) * m.head_dim * m.dtype_bytes;
    EXPECT_EQ(bytes, w.tensor_bytes) << w.model;
    MemoryConfig c = virtual_config(100000, "64KiB", 2048);
    c.kv_tensor_bytes_per_token = bytes;
    EXPECT_EQ(virtual_tokens_per_page(c), w.per_64k) << w.model;
    c.settings.set("memory.page_size", "2MiB");
    EXPECT_EQ(virtual_tokens_per_page(c), w.per_2m) << w.model;
  }
}

TEST(VirtualPages, PoolIsTheBudgetInPages) {
  // 1000 slots x 8 KiB = 8000 KiB per tensor: 125 pages of 64 KiB (8 tokens each).
  auto kv = make(virtual_config(1000, "64KiB", 256));
  EXPECT_EQ(kv->capacity_slots(), 1000);
  // 1000 slots of 10 KiB (opt-13b): 156 pages of 6 tokens; a page's last 4 KiB hold no token.
  MemoryConfig opt = virtual_config(1000, "64KiB", 256);
  opt.kv_tensor_bytes_per_token = 10240;
  EXPECT_EQ(make(opt)->capacity_slots(), 156 * 6);
  const VirtualMemoryStats s = kv->virtual_memory_stats();
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.tokens_per_page, 8);
  EXPECT_EQ(s.range_slots, 256);
  EXPECT_EQ(s.ranges_in_use, 0);
  EXPECT_GT(s.ranges_total, 1000000);  // 128 TiB of 2 x 2 x 32 x 64 KiB ranges
}

TEST(VirtualPages, PageSizeAcceptsTheDocumentedSizesOnly) {
  EXPECT_EQ(parse_page_size("64KiB"), 64 << 10);
  EXPECT_EQ(parse_page_size("128KiB"), 128 << 10);
  EXPECT_EQ(parse_page_size("262144"), 256 << 10);
  EXPECT_EQ(parse_page_size("2MiB"), 2 << 20);
  for (const char* bad : {"", "1MiB", "64KB", "64 KiB", "4096", "-64KiB", "99999999999"}) {
    EXPECT_EQ(input_error_field(virtual_config(1000, bad, 256)), "memory.page_size") << bad;
  }
}

TEST(VirtualPages, BadLayoutsAndBudgetsNameTheirKey) {
  MemoryConfig no_layout = virtual_config(1000, "64KiB", 256);
  no_layout.kv_tensor_bytes_per_token = 0;
  EXPECT_EQ(input_error_field(no_layout), "model.name");
  MemoryConfig huge_token = virtual_config(1000, "64KiB", 256);
  huge_token.kv_tensor_bytes_per_token = 100000;  // more than a page
  EXPECT_EQ(input_error_field(huge_token), "memory.page_size");
  EXPECT_EQ(input_error_field(virtual_config(100, "2MiB", 256)), "memory.capacity_slots");
  MemoryConfig tiny_space = virtual_config(1000, "64KiB", 256);
  tiny_space.settings.set("memory.virtual_space_gib", "0.001");  // < one 8 MiB range
  EXPECT_EQ(input_error_field(tiny_space), "memory.virtual_space_gib");
}

TEST(VirtualManager, MapsAPageWhenTheNextTokenNeedsOne) {
  auto kv = make(virtual_config(1000, "64KiB", 256));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 5, 20));  // final length 25: 4 pages
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_EQ(mapping(*kv), std::make_pair(kPagesPerGroup, int64_t{0}));
  EXPECT_EQ(kv->virtual_memory_stats().ranges_in_use, 1);
  EXPECT_EQ(kv->virtual_memory_stats().virtual_reserved_slots(), 256);
  MemoryBreakdown b = kv->breakdown(nullptr);
  EXPECT_EQ(b.token_states, 0);
  EXPECT_EQ(b.reserved, 8);  // the prompt's page: 5 prompt slots and 3 the output will use
  EXPECT_EQ(b.internal_frag, 0);
  d.prefill(*g);  // 5 computed, 1 sampled
  // Tokens 6, 7, 8 fit in the first page; the 9th maps the second.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(d.decode(*g));
  EXPECT_EQ(mapping(*kv).first, kPagesPerGroup);
  ASSERT_TRUE(d.decode(*g));
  EXPECT_EQ(mapping(*kv).first, 2 * kPagesPerGroup);
  const KvLayout layout = kv->layout(g->seqs[0]);
  EXPECT_EQ(layout.kind, KvLayout::Kind::kPaged);
  EXPECT_EQ(layout.block_size, 8);
  EXPECT_EQ(layout.block_table, (std::vector<int32_t>{0, 1}));
  const VirtualLayout v = virtual_layout(*kv, g->seqs[0]);
  EXPECT_EQ(v.range_base_slot, 0);
  EXPECT_EQ(v.range_slots, 256);
  EXPECT_EQ(v.pages, layout.block_table);
  // The same page table through the interface a back end with real virtual memory reads.
  EXPECT_EQ(kv->virtual_range(g->seqs[0]), v.range);
  const std::span<const int32_t> pages = kv->virtual_range_pages(v.range);
  EXPECT_EQ(std::vector<int32_t>(pages.begin(), pages.end()), v.pages);
  EXPECT_TRUE(kv->virtual_range_pages(v.range + 1).empty());  // never taken
  EXPECT_EQ(kv->virtual_memory_stats().ranges_created, 1);
  // Run to the end: the last sampled token (the 25th) is never computed, so 24 slots in 3
  // pages; release unmaps them all.
  while (!g->is_finished()) ASSERT_TRUE(d.decode(*g));
  EXPECT_EQ(mapping(*kv), std::make_pair(3 * kPagesPerGroup, 3 * kPagesPerGroup));
  EXPECT_EQ(kv->free_slots(), kv->capacity_slots());
}

// The vmm_geometry trait says what the manager built from the same config will have.
TEST(VirtualManager, GeometryTraitMatchesTheManager) {
  const MemoryConfig c = virtual_config(1000, "64KiB", 256);
  const VirtualGeometry g = memory_policies().entry("virtual").traits.vmm_geometry(c);
  const auto kv = make(c);
  const VirtualMemoryStats s = kv->virtual_memory_stats();
  EXPECT_EQ(g.page_bytes, s.page_bytes);
  EXPECT_EQ(g.tokens_per_page, s.tokens_per_page);
  EXPECT_EQ(g.range_slots(), s.range_slots);
  EXPECT_EQ(g.ranges_total, s.ranges_total);
  EXPECT_EQ(int64_t{g.num_pages} * g.tokens_per_page, kv->capacity_slots());
  // Other policies map nothing: no trait, and the empty page tables.
  MemoryConfig paged = c;
  paged.policy = "paged";
  EXPECT_FALSE(memory_policies().entry("paged").traits.vmm_geometry);
  EXPECT_TRUE(memory_policies().create("paged", paged)->virtual_range_pages(0).empty());
}

TEST(VirtualManager, TheLastPagesUnusedSlotsAreInternalFragmentation) {
  auto kv = make(virtual_config(1024, "2MiB", 512));  // 4 pages of 256 tokens
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 10, 10));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  d.prefill(*g);
  const MemoryBreakdown b = kv->breakdown(nullptr);
  EXPECT_EQ(b.token_states, 10);
  EXPECT_EQ(b.reserved, 10);
  EXPECT_EQ(b.internal_frag, 256 - 20);
  EXPECT_EQ(b.free, 768);
  EXPECT_EQ(b.external_frag, 0);
}

TEST(VirtualManager, DeferredReclamationReusesAFinishedRequestsPages) {
  MemoryConfig c = virtual_config(64, "64KiB", 64);  // 8 pages of 8 tokens; ranges of 8
  c.settings.set("memory.deferred_reclaim", "true");
  auto kv = make(c);
  KvDriver d(*kv);
  auto a = d.new_group(make_spec(1, 20, 4));  // 3 pages
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  d.prefill(*a);
  d.abort(*a);  // released: its 3 pages stay mapped in its idle range
  EXPECT_EQ(mapping(*kv), std::make_pair(3 * kPagesPerGroup, int64_t{0}));
  MemoryBreakdown b = kv->breakdown(nullptr);
  EXPECT_EQ(b.cached, 24);
  EXPECT_EQ(b.free, 40);
  EXPECT_EQ(kv->free_slots(), 64);  // reclaimable
  // The next request takes that range, maps nothing for its 2-page prompt and unmaps the
  // third page (it would not have mapped it yet).
  auto next = d.new_group(make_spec(2, 16, 4));
  ASSERT_EQ(d.try_admit(*next), AllocStatus::kOk);
  EXPECT_EQ(mapping(*kv), std::make_pair(3 * kPagesPerGroup, 1 * kPagesPerGroup));
  b = kv->breakdown(nullptr);
  EXPECT_EQ(b.cached, 0);
  EXPECT_EQ(b.reserved, 16);
  EXPECT_EQ(b.internal_frag, 0);
  EXPECT_EQ(b.free, 48);
  // The 6 free pages admit a 47-token prompt, not a 49-token one.
  auto fits = d.new_group(make_spec(3, 47, 1));
  auto too_big = d.new_group(make_spec(4, 49, 1));
  EXPECT_EQ(kv->can_admit(*fits), AllocStatus::kOk);
  EXPECT_EQ(kv->can_admit(*too_big), AllocStatus::kLater);
  d.abort(*next);
  // `fits` takes the idle range's 2 pages and maps 4 more.
  ASSERT_EQ(d.try_admit(*fits), AllocStatus::kOk);
  EXPECT_EQ(mapping(*kv).first, 7 * kPagesPerGroup);
  d.abort(*fits);
  // A one-page request takes the 6-page range (the best fit: the only idle one) and keeps one.
  auto one_page = d.new_group(make_spec(5, 8, 1));
  ASSERT_EQ(d.try_admit(*one_page), AllocStatus::kOk);
  EXPECT_EQ(mapping(*kv), std::make_pair(7 * kPagesPerGroup, 6 * kPagesPerGroup));
  EXPECT_EQ(kv->breakdown(nullptr).free, 56);
  d.abort(*one_page);
  EXPECT_EQ(kv->free_slots(), 64);
}

TEST(VirtualManager, ReclaimsPagesFromIdleRangesWhenNoneIsFree) {
  MemoryConfig c = virtual_config(32, "64KiB", 32);  // 4 pages; ranges of 4
  c.settings.set("memory.deferred_reclaim", "true");
  auto kv = make(c);
  KvDriver d(*kv);
  auto a = d.new_group(make_spec(1, 15, 1));  // 2 pages each
  auto b = d.new_group(make_spec(2, 15, 1));
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
  d.abort(*a);
  d.abort(*b);  // two idle ranges of 2 pages, nothing free
  EXPECT_EQ(kv->breakdown(nullptr).free, 0);
  EXPECT_EQ(kv->breakdown(nullptr).cached, 32);
  // 3 pages: a's range keeps its 2 and one is unmapped from b's range and mapped again.
  auto three = d.new_group(make_spec(3, 23, 1));
  ASSERT_EQ(d.try_admit(*three), AllocStatus::kOk);
  EXPECT_EQ(mapping(*kv), std::make_pair(5 * kPagesPerGroup, 1 * kPagesPerGroup));
  EXPECT_EQ(kv->layout(three->seqs[0]).block_table.size(), 3u);
  // The last page is b's range's, taken whole.
  auto one = d.new_group(make_spec(4, 7, 1));
  ASSERT_EQ(d.try_admit(*one), AllocStatus::kOk);
  EXPECT_EQ(mapping(*kv).first, 5 * kPagesPerGroup);
  EXPECT_EQ(kv->free_slots(), 0);
  auto more = d.new_group(make_spec(5, 1, 1));
  EXPECT_EQ(kv->can_admit(*more), AllocStatus::kLater);
  d.abort(*three);
  d.abort(*one);
}

TEST(VirtualManager, EagerAllocationMapsAhead) {
  MemoryConfig c = virtual_config(1000, "64KiB", 256);
  c.settings.set("memory.eager_alloc", "2");
  auto kv = make(c);
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 8, 20));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_EQ(mapping(*kv).first, kPagesPerGroup);  // admission maps what the prompt needs
  d.prefill(*g);
  ASSERT_TRUE(d.decode(*g));  // token 9: its page and 2 more
  EXPECT_EQ(mapping(*kv).first, 4 * kPagesPerGroup);
  // 9 computed, 19 more to the final length 28, 4 slots of the 4 pages never used.
  const MemoryBreakdown b = kv->breakdown(nullptr);
  EXPECT_EQ(b.token_states, 9);
  EXPECT_EQ(b.reserved, 19);
  EXPECT_EQ(b.internal_frag, 4);
  while (!g->is_finished()) ASSERT_TRUE(d.decode(*g));  // 28 tokens fit in the 4 pages
  EXPECT_EQ(mapping(*kv), std::make_pair(4 * kPagesPerGroup, 4 * kPagesPerGroup));
}

TEST(VirtualManager, TheVirtualSpaceIsFinite) {
  MemoryConfig c = virtual_config(1000, "64KiB", 256);
  // Ranges of 2 x 2 layers x 32 pages x 64 KiB = 8 MiB: room for 3.
  c.settings.set("memory.virtual_space_gib", std::to_string(3.5 * 8 / 1024));
  auto kv = make(c);
  EXPECT_EQ(kv->virtual_memory_stats().ranges_total, 3);
  KvDriver d(*kv);
  std::vector<std::unique_ptr<SequenceGroup>> groups;
  for (int id = 1; id <= 3; ++id) {
    groups.push_back(d.new_group(make_spec(id, 4, 4)));
    ASSERT_EQ(d.try_admit(*groups.back()), AllocStatus::kOk);
  }
  auto fourth = d.new_group(make_spec(4, 4, 4));
  EXPECT_EQ(kv->can_admit(*fourth), AllocStatus::kLater);  // physical memory is plentiful
  auto four_samples = d.new_group(make_spec(5, 4, 4, /*n=*/4));
  EXPECT_EQ(kv->can_admit(*four_samples), AllocStatus::kNever);
  d.abort(*groups[0]);
  EXPECT_EQ(d.try_admit(*fourth), AllocStatus::kOk);
  // A sequence longer than its range never fits.
  auto long_one = d.new_group(make_spec(6, 200, 57));
  EXPECT_EQ(kv->can_admit(*long_one), AllocStatus::kNever);
}

TEST(VirtualManager, ForkCopiesThePromptPageByPageIntoHeldRanges) {
  auto kv = make(virtual_config(1000, "64KiB", 256));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 20, 5, /*n=*/3));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_EQ(kv->virtual_memory_stats().ranges_in_use, 3);
  EXPECT_EQ(mapping(*kv).first, 3 * 3 * kPagesPerGroup);  // 3 pages each
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);
  d.expect_data(*g);
  // Pages are never shared: three ranges, nine pages, the prompt in each.
  EXPECT_EQ(kv->breakdown(nullptr).token_states, 60);
  while (!g->is_finished()) ASSERT_TRUE(d.decode(*g));
  EXPECT_EQ(kv->virtual_memory_stats().ranges_in_use, 0);
}

}  // namespace
}  // namespace kvlab
