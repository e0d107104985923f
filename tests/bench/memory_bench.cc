// Memory-manager speed: admit, append_slot and release for three configurations (paged with
// 16-slot blocks, contiguous max + first-fit, contiguous pow2 + buddy), each reported per
// operation (the `per_op` counter, seconds), plus the paged breakdown() at 512K blocks, which
// the Engine calls every step. Managers are created by name; a configuration whose policy is
// not registered is skipped with an error. Targets (vLLM-scale arenas): append_slot under
// 50 ns amortized; breakdown independent of capacity.
//
// Prefix caching: BM_EvictionCycle/<policy> drives each registered eviction policy alone over
// a loaded cache (64K blocks, half evictable), and BM_PrefixAdmission a paged manager with
// prefix caching whose admissions find 64 cached blocks and evict for the rest. Target: an
// admission with a 64-block hit plus its evictions under 1 us.
//
// Virtual memory (vAttention): BM_AppendSlot/virtual_* appends with map-on-append over a
// llama-2-7b layout (8 KiB per token per layer per K/V tensor, 32 layers): 64 KiB pages map a
// page group every 8 tokens, 2 MiB pages every 256; deferred reclamation and eager mapping.
// Target: map-on-append under 100 ns amortized per token.
//
// Real virtual memory (the cpu back end's, kernels/host_virtual_memory.h): BM_RealMapUnmap/
// <page size>/<touch> maps one memfd page into a reserved range (mmap MAP_FIXED | MAP_SHARED)
// and unmaps it (mmap PROT_NONE MAP_FIXED), cycling over 64 pages; with touch = 1 it writes
// one byte per OS page in between, as KV writes do (the first access faults each 4 KiB in, and
// the unmap then tears the page-table entries down). The `map_us` and `unmap_us` counters are
// the measured time of one call per page, what the step table's vmm_s sums; `touch_us` the
// faults, which a run pays inside its compute. Reported, not targeted (docs/performance.md).
//
// Run: build/<dir>/bin/bench_memory [--benchmark_filter=Append]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/kv_cache_manager.h"
#include "core/request.h"
#include "kernels/host_virtual_memory.h"
#include "policies/eviction/eviction.h"

namespace kvlab {
namespace {

constexpr int64_t kCapacity = int64_t{1} << 20;  // 1M slots
constexpr int32_t kMaxSeqLen = 2048;
constexpr int kBatch = 256;  // groups per admit / release batch; sequences in append

MemoryConfig bench_config(const std::string& policy, int32_t block_size,
                          const std::string& reservation, const std::string& placement) {
  MemoryConfig c;
  c.policy = policy;
  c.capacity_slots = kCapacity;
  c.swap_capacity_slots = 0;
  c.max_seq_len = kMaxSeqLen;
  c.settings.set("memory.block_size", std::to_string(block_size));
  c.settings.set("memory.watermark", std::to_string(0.0));
  c.settings.set("memory.reservation", std::string(reservation));
  c.settings.set("memory.placement", std::string(placement));
  return c;
}

const MemoryConfig kPaged16 = bench_config("paged", 16, "max", "first-fit");
const MemoryConfig kContiguousMaxFirstFit = bench_config("contiguous", 16, "max", "first-fit");
const MemoryConfig kContiguousPow2Buddy = bench_config("contiguous", 16, "pow2", "buddy");

MemoryConfig virtual_config(const std::string& page_size, bool deferred, int eager) {
  MemoryConfig c = bench_config("virtual", 16, "max", "first-fit");
  c.kv_tensor_bytes_per_token = 32 * 128 * 2;  // llama-2-7b
  c.kv_layers = 32;
  c.settings.set("memory.page_size", page_size);
  c.settings.set("memory.deferred_reclaim", deferred ? "true" : "false");
  c.settings.set("memory.eager_alloc", std::to_string(eager));
  return c;
}
const MemoryConfig kVirtual64K = virtual_config("64KiB", false, 0);
const MemoryConfig kVirtual2M = virtual_config("2MiB", false, 0);
const MemoryConfig kVirtual64KDeferredEager = virtual_config("64KiB", true, 4);

// The manager, or null after marking the benchmark skipped.
std::unique_ptr<KvCacheManager> create_or_skip(benchmark::State& state, const MemoryConfig& c) {
  if (!memory_policies().contains(c.policy)) {
    state.SkipWithError(memory_policies().unknown_message(c.policy).c_str());
    return nullptr;
  }
  return memory_policies().create(c.policy, c);
}

// kBatch single-sequence groups of assorted prompt lengths, each able to grow to kMaxSeqLen.
std::vector<std::unique_ptr<SequenceGroup>> make_groups(RequestId first_id) {
  static constexpr int32_t kPrompts[] = {1, 17, 100, 333, 512, 1000};
  std::vector<std::unique_ptr<SequenceGroup>> groups;
  for (int i = 0; i < kBatch; ++i) {
    RequestSpec s;
    s.id = first_id + i;
    s.prompt_len = kPrompts[i % 6];
    s.output_len = kMaxSeqLen - s.prompt_len;
    groups.push_back(std::make_unique<SequenceGroup>(s));
  }
  return groups;
}

void set_per_op(benchmark::State& state, int64_t ops_per_iteration) {
  state.counters["per_op"] = benchmark::Counter(
      static_cast<double>(ops_per_iteration),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(state.iterations() * ops_per_iteration);
}

using Clock = std::chrono::steady_clock;

void BM_Admit(benchmark::State& state, const MemoryConfig& config) {
  auto kv = create_or_skip(state, config);
  if (!kv) return;
  auto groups = make_groups(1);
  for (auto _ : state) {
    const auto start = Clock::now();
    for (auto& g : groups) kv->admit(*g);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
    for (auto& g : groups) kv->release(g->seqs[0]);
  }
  set_per_op(state, kBatch);
}

void BM_Release(benchmark::State& state, const MemoryConfig& config) {
  auto kv = create_or_skip(state, config);
  if (!kv) return;
  auto groups = make_groups(1);
  for (auto _ : state) {
    for (auto& g : groups) kv->admit(*g);
    const auto start = Clock::now();
    for (auto& g : groups) kv->release(g->seqs[0]);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  set_per_op(state, kBatch);
}

// One append_slot per iteration, round-robin over kBatch decoding sequences (each step the
// Engine's bookkeeping is mimicked: the slot's token is computed, a new one sampled). When
// all have grown to their full length they are released and admitted again, untimed.
void BM_AppendSlot(benchmark::State& state, const MemoryConfig& config) {
  auto kv = create_or_skip(state, config);
  if (!kv) return;
  auto groups = make_groups(1);
  auto restart = [&] {
    for (auto& g : groups) {
      Sequence& s = g->seqs[0];
      kv->release(s);
      s.num_generated = 0;
      s.num_computed = 0;
      kv->admit(*g);
      s.num_computed = s.num_tokens();  // prefill
      s.num_generated = 1;              // first sample: one token pending
    }
  };
  restart();
  size_t next = 0;
  int64_t appends_left = 0;
  for (const auto& g : groups) appends_left += g->spec.output_len - 1;
  for (auto _ : state) {
    Sequence* s = &groups[next]->seqs[0];
    while (s->num_generated >= s->group->spec.output_len) {  // this one is done
      if (appends_left == 0) {
        state.PauseTiming();
        restart();
        appends_left = 0;
        for (const auto& g : groups) appends_left += g->spec.output_len - 1;
        state.ResumeTiming();
      }
      next = (next + 1) % groups.size();
      s = &groups[next]->seqs[0];
    }
    std::vector<KvCopy> copies = kv->append_slot(*s);
    benchmark::DoNotOptimize(copies);
    s->num_computed += 1;
    s->num_generated += 1;
    --appends_left;
    next = (next + 1) % groups.size();
  }
  set_per_op(state, 1);
}

// breakdown() at block_size 1 over a 512K-slot arena holding kBatch sequences: its cost must
// follow the number of sequences, not the capacity.
void BM_PagedBreakdown(benchmark::State& state) {
  MemoryConfig c = bench_config("paged", 1, "max", "first-fit");
  c.capacity_slots = int64_t{1} << 19;
  auto kv = create_or_skip(state, c);
  if (!kv) return;
  auto groups = make_groups(1);
  for (auto& g : groups) kv->admit(*g);
  for (auto _ : state) {
    MemoryBreakdown b = kv->breakdown(nullptr);
    benchmark::DoNotOptimize(b);
  }
  set_per_op(state, 1);
}

// ---- prefix caching -----------------------------------------------------------------------

// One cycle of an eviction policy under load: 64K cached blocks in chains of 16 (as requests
// of 16 blocks leave them), half the chains held, half freed (tail first) and evictable. Each
// iteration evicts a block, caches new content in it (a root: parent -1) and frees it, then
// hits and frees again a block freed kRecent cycles earlier when it is still evictable (a
// later request finding it): evict + on_cache + on_free + on_hit + on_free. The evictable
// count stays constant. `hits` counts the hits that found their block.
void BM_EvictionCycle(benchmark::State& state, const std::string& policy) {
  constexpr int32_t kBlocks = 1 << 16;
  constexpr int32_t kChain = 16;
  constexpr size_t kRecent = 1024;
  if (!eviction_policies().contains(policy)) {
    state.SkipWithError(eviction_policies().unknown_message(policy).c_str());
    return;
  }
  auto eviction = eviction_policies().create(policy, EvictionConfig{kBlocks});
  for (int32_t b = 0; b < kBlocks; ++b) eviction->on_cache(b, b % kChain == 0 ? -1 : b - 1);
  for (int32_t chain = 0; chain < kBlocks / kChain; chain += 2) {
    for (int32_t b = (chain + 1) * kChain; b-- > chain * kChain;) eviction->on_free(b);
  }
  std::vector<int32_t> recent(kRecent, -1);  // roots freed by earlier cycles, a ring
  size_t next = 0;
  int64_t hits = 0;
  for (auto _ : state) {
    const int32_t victim = eviction->evict();
    eviction->on_cache(victim, -1);
    eviction->on_free(victim);
    const int32_t old = recent[next];
    if (old >= 0 && eviction->is_evictable(old)) {
      eviction->on_hit(old);
      eviction->on_free(old);
      ++hits;
    }
    recent[next] = victim;
    next = (next + 1) % kRecent;
  }
  eviction->audit();
  state.counters["hits"] =
      benchmark::Counter(static_cast<double>(hits), benchmark::Counter::kAvgIterations);
  set_per_op(state, 1);
}

// Prefix admission at steady state: a paged manager with prefix caching (lru, 16-slot blocks,
// 4096 blocks) whose free list is empty, every block cached (a 1024-token system prompt, 64
// blocks, most recently used; earlier requests' blocks behind it). Each iteration is one
// request's life in the manager: can_admit and admit of the system prompt plus 256 tokens of
// its own (64 blocks found cached, 16 taken by eviction), on_computed after its prefill (the
// 16 become cached) and release (all 80 evictable, the 16 go first next time); admit_share
// is the part of the time spent in can_admit and admit (wall clock). Block
// identities from token ids (/token_ids: 16 token hashes a block, as real back ends), or from
// names (/named: the simulator's, 512-token entries as Mooncake's hash_ids; one hash step a
// block).
void BM_PrefixAdmission(benchmark::State& state, bool named) {
  constexpr int32_t kShared = 1024;
  constexpr int32_t kOwn = 256;
  MemoryConfig c = bench_config("paged", 16, "max", "first-fit");
  c.capacity_slots = 4096 * 16;
  c.settings.set("memory.prefix_caching", "true");
  c.settings.set("memory.eviction", "lru");
  auto kv = create_or_skip(state, c);
  if (!kv) return;
  constexpr int32_t kEntry = 512;  // tokens a name covers
  int32_t next_token = 1 << 20;    // distinct from the shared prompt's ids
  uint64_t next_name = 1000;       // distinct from the shared prompt's names (1, 2)
  RequestId next_id = 1;
  // A request of the shared prompt then `own` fresh tokens (multiples of kEntry when named).
  auto make = [&](int32_t shared, int32_t own) {
    RequestSpec s;
    s.id = next_id++;
    s.prompt_len = shared + own;
    s.output_len = 1;
    if (named) {
      s.prefix_hash_tokens = kEntry;
      s.named_len = s.prompt_len;
      for (int32_t i = 0; i < shared; i += kEntry) s.prefix_hashes.push_back(1 + i / kEntry);
      for (int32_t i = 0; i < own; i += kEntry) s.prefix_hashes.push_back(next_name++);
    } else {
      for (int32_t i = 0; i < shared; ++i) s.prompt_tokens.push_back(i);
      for (int32_t i = 0; i < own; ++i) s.prompt_tokens.push_back(next_token++);
    }
    return std::make_unique<SequenceGroup>(std::move(s));
  };
  double admit_s = 0;  // in can_admit + admit
  auto run_once = [&](SequenceGroup& g) {
    Sequence& seq = g.seqs[0];
    const auto start = Clock::now();
    if (kv->can_admit(g) != AllocStatus::kOk) return false;
    kv->admit(g);
    admit_s += std::chrono::duration<double>(Clock::now() - start).count();
    seq.num_computed = seq.num_tokens();
    kv->on_computed(seq);
    kv->release(seq);
    seq.num_computed = 0;
    return true;
  };
  // Fill the pool with other requests' blocks, then cache the system prompt last.
  while (kv->prefix_cache_stats().cached_blocks + 64 < kv->capacity_slots() / 16) {
    auto filler = make(0, 1024);
    run_once(*filler);
  }
  auto warm = make(kShared, 0);
  run_once(*warm);
  auto g = make(kShared, kOwn);
  Sequence& seq = g->seqs[0];
  const PrefixCacheStats before = kv->prefix_cache_stats();
  admit_s = 0;
  const auto loop_start = Clock::now();
  int64_t iterations = 0;
  for (auto _ : state) {
    if (!run_once(*g)) {
      state.SkipWithError("admission refused");
      break;
    }
    // Fresh own tokens for the next iteration (its own blocks are new content).
    if (named) {
      g->spec.prefix_hashes.back() = next_name++;
    } else {
      for (size_t i = kShared; i < seq.token_ids.size(); ++i) seq.token_ids[i] = next_token++;
    }
    seq.block_hashes.clear();  // a new request: its identities are computed afresh
    ++iterations;
  }
  const double loop_s = std::chrono::duration<double>(Clock::now() - loop_start).count();
  const PrefixCacheStats after = kv->prefix_cache_stats();
  if (iterations > 0) {
    const double n = static_cast<double>(iterations);
    state.counters["hit_blocks"] = static_cast<double>(after.hit_blocks - before.hit_blocks) / n;
    state.counters["evicted_blocks"] =
        static_cast<double>(after.evicted_blocks - before.evicted_blocks) / n;
    state.counters["admit_share"] = loop_s > 0 ? admit_s / loop_s : 0.0;
  }
  set_per_op(state, 1);
}

void BM_RealMapUnmap(benchmark::State& state) {
  const auto page_bytes = static_cast<size_t>(state.range(0));
  const bool touch = state.range(1) != 0;
  constexpr size_t kPages = 64;
  const MemfdPagePool pool(page_bytes, kPages);
  VirtualReservation range(kPages * page_bytes);
  const size_t os_page = os_page_size();
  double map_s = 0;
  double touch_s = 0;
  double unmap_s = 0;
  size_t i = 0;
  for (auto _ : state) {
    const size_t page = i++ % kPages;
    std::byte* at = range.data() + page * page_bytes;
    const double before = range.counters().seconds;
    range.map(page * page_bytes, pool, kPages - 1 - page);
    map_s += range.counters().seconds - before;
    if (touch) {
      const auto start = std::chrono::steady_clock::now();
      for (size_t b = 0; b < page_bytes; b += os_page) at[b] = std::byte{1};
      touch_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const double mapped = range.counters().seconds;
    range.unmap(page * page_bytes, page_bytes, page_bytes);
    unmap_s += range.counters().seconds - mapped;
  }
  const double n = static_cast<double>(std::max<size_t>(1, i));
  state.counters["map_us"] = map_s / n * 1e6;
  if (touch) state.counters["touch_us"] = touch_s / n * 1e6;
  state.counters["unmap_us"] = unmap_s / n * 1e6;
}

BENCHMARK(BM_RealMapUnmap)->ArgsProduct({{64 << 10, 128 << 10, 256 << 10, 2 << 20}, {0, 1}});
BENCHMARK_CAPTURE(BM_Admit, paged16, kPaged16)->UseManualTime();
BENCHMARK_CAPTURE(BM_Admit, contiguous_max_first_fit, kContiguousMaxFirstFit)->UseManualTime();
BENCHMARK_CAPTURE(BM_Admit, contiguous_pow2_buddy, kContiguousPow2Buddy)->UseManualTime();
BENCHMARK_CAPTURE(BM_AppendSlot, paged16, kPaged16);
BENCHMARK_CAPTURE(BM_AppendSlot, contiguous_max_first_fit, kContiguousMaxFirstFit);
BENCHMARK_CAPTURE(BM_AppendSlot, contiguous_pow2_buddy, kContiguousPow2Buddy);
BENCHMARK_CAPTURE(BM_AppendSlot, virtual_64KiB, kVirtual64K);
BENCHMARK_CAPTURE(BM_AppendSlot, virtual_2MiB, kVirtual2M);
BENCHMARK_CAPTURE(BM_AppendSlot, virtual_64KiB_deferred_eager4, kVirtual64KDeferredEager);
BENCHMARK_CAPTURE(BM_Admit, virtual_64KiB, kVirtual64K)->UseManualTime();
BENCHMARK_CAPTURE(BM_Release, virtual_64KiB, kVirtual64K)->UseManualTime();
BENCHMARK_CAPTURE(BM_Release, paged16, kPaged16)->UseManualTime();
BENCHMARK_CAPTURE(BM_Release, contiguous_max_first_fit, kContiguousMaxFirstFit)->UseManualTime();
BENCHMARK_CAPTURE(BM_Release, contiguous_pow2_buddy, kContiguousPow2Buddy)->UseManualTime();
BENCHMARK(BM_PagedBreakdown);
BENCHMARK_CAPTURE(BM_EvictionCycle, lru, std::string("lru"));
BENCHMARK_CAPTURE(BM_EvictionCycle, lfu, std::string("lfu"));
BENCHMARK_CAPTURE(BM_EvictionCycle, leaf_lru, std::string("leaf-lru"));
BENCHMARK_CAPTURE(BM_PrefixAdmission, token_ids, false);
BENCHMARK_CAPTURE(BM_PrefixAdmission, named, true);

}  // namespace
}  // namespace kvlab
