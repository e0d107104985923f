// Helpers for memory-manager tests, usable with any KvCacheManager:
//  - make_spec / make_group: SequenceGroups from RequestSpecs, with distinct token ids;
//  - ShadowArena: device and host arrays of token ids that replay the KvCopy lists a manager
//    returns, in the order an Executor runs them (swap_out, swap_in, copies; fork copies at
//    once, in the step that forks), and
//    that "compute" writes each token's id into the slot its sequence's layout() names, so a
//    test can read every sequence's tokens back through layout() after forks, copy-on-write
//    and swap round trips;
//  - KvDriver: drives one manager the way the Engine and a scheduler would (admit, prefill and
//    sample, fork, decode with append_slot, swap out / in, recompute, abort), keeping the
//    shadow arena and the sequences' counters in step, and checking the manager's consistency
//    (audit, breakdown sums) after every operation.
// Everything throws (InvariantError, or gtest failures) on a broken expectation.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/kv_cache_manager.h"
#include "core/request.h"
#include "policies/eviction/eviction.h"

namespace kvlab::testutil {

// A memory configuration under test: `name` is a gtest-safe label (letters, digits, '_').
struct MemoryCase {
  std::string name;
  MemoryConfig config;
  friend std::ostream& operator<<(std::ostream& os, const MemoryCase& c) { return os << c.name; }
};

// Every memory configuration the suites run over: paged at block sizes 1, 16 and 256, paged
// with prefix caching under every eviction policy, and contiguous for each reservation x
// placement. All are created by name from the registry.
inline std::vector<MemoryCase> all_memory_cases(int64_t capacity_slots, int64_t swap_slots,
                                                int32_t max_seq_len, double watermark = 0.0) {
  std::vector<MemoryCase> out;
  MemoryConfig base;
  base.capacity_slots = capacity_slots;
  base.swap_capacity_slots = swap_slots;
  base.max_seq_len = max_seq_len;
  // A llama-2-7b-like layer (32 KV heads x 128 x 2 bytes = 8 KiB per token per K or V
  // tensor), two layers: 64 KiB pages hold 8 tokens, 2 MiB pages 256 (the virtual policy).
  base.kv_tensor_bytes_per_token = 8192;
  base.kv_layers = 2;
  base.settings.set("memory.watermark", std::to_string(watermark));
  for (int32_t block_size : {1, 16, 256}) {
    MemoryConfig c = base;
    c.policy = "paged";
    c.settings.set("memory.block_size", std::to_string(block_size));
    out.push_back({"paged_bs" + std::to_string(block_size), c});
  }
  // Prefix caching, with each eviction policy (block size 16; block size 1 with lru: a block
  // per token, the most identities).
  for (const std::string& eviction : eviction_policies().names()) {
    for (int32_t block_size : {1, 16}) {
      if (block_size == 1 && eviction != "lru") continue;
      MemoryConfig c = base;
      c.policy = "paged";
      c.settings.set("memory.block_size", std::to_string(block_size));
      c.settings.set("memory.prefix_caching", "true");
      c.settings.set("memory.eviction", eviction);
      std::string name = "paged_bs" + std::to_string(block_size) + "_cache_" + eviction;
      std::replace(name.begin(), name.end(), '-', '_');
      out.push_back({name, c});
    }
  }
  for (const char* reservation : {"max", "pow2", "oracle"}) {
    for (const char* placement : {"first-fit", "best-fit", "buddy"}) {
      MemoryConfig c = base;
      c.policy = "contiguous";
      c.settings.set("memory.reservation", std::string(reservation));
      c.settings.set("memory.placement", std::string(placement));
      std::string name = std::string("contiguous_") + reservation + "_" + placement;
      std::replace(name.begin(), name.end(), '-', '_');
      out.push_back({name, c});
    }
  }
  // Virtual memory: pages of 8, 16 and 256 tokens; deferred reclamation with eager mapping; a
  // virtual space of 6 ranges (of 2 x 2 x 32 pages of 64 KiB = 8 MiB each), so admission
  // also waits for ranges.
  for (const char* page : {"64KiB", "128KiB", "2MiB"}) {
    MemoryConfig c = base;
    c.policy = "virtual";
    c.settings.set("memory.page_size", std::string(page));
    out.push_back({std::string("virtual_") + page, c});
  }
  {
    MemoryConfig c = base;
    c.policy = "virtual";
    c.settings.set("memory.page_size", "64KiB");
    c.settings.set("memory.deferred_reclaim", "true");
    c.settings.set("memory.eager_alloc", "2");
    out.push_back({"virtual_64KiB_deferred_eager", c});
    c.settings.set("memory.virtual_space_gib", std::to_string(6.0 * 8 / 1024));
    out.push_back({"virtual_64KiB_deferred_eager_6_ranges", c});
  }
  return out;
}

inline std::string case_name(const ::testing::TestParamInfo<MemoryCase>& info) {
  return info.param.name;
}

inline std::unique_ptr<KvCacheManager> create_manager(const MemoryConfig& config) {
  return memory_policies().create(config.policy, config);
}

// Deterministic across platforms: mt19937_64 with an explicit seed and our own reduction
// (std::uniform_int_distribution differs between standard libraries).
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  // Uniform in [lo, hi] (the modulo bias is negligible for the small ranges tests use).
  int64_t uniform(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(gen_() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool chance(double p) { return static_cast<double>(gen_() >> 11) * 0x1.0p-53 < p; }

 private:
  std::mt19937_64 gen_;
};

// Hands out distinct token ids (so a token read from the wrong slot is caught).
class TokenSource {
 public:
  explicit TokenSource(int32_t first = 1000) : next_(first) {}
  int32_t next() { return next_++; }

 private:
  int32_t next_;
};

inline RequestSpec make_spec(RequestId id, int32_t prompt_len, int32_t output_len, int32_t n = 1) {
  RequestSpec s;
  s.id = id;
  s.prompt_len = prompt_len;
  s.output_len = output_len;
  s.n = n;
  return s;
}

// A group for `spec`, with distinct prompt token ids from `tokens` when the spec has none.
inline std::unique_ptr<SequenceGroup> make_group(RequestSpec spec, TokenSource& tokens) {
  if (spec.prompt_tokens.empty()) {
    for (int32_t i = 0; i < spec.prompt_len; ++i) spec.prompt_tokens.push_back(tokens.next());
  }
  return std::make_unique<SequenceGroup>(std::move(spec));
}

// Device and host slot arrays holding token ids (-1: never written).
class ShadowArena {
 public:
  ShadowArena(int64_t device_slots, int64_t host_slots)
      : device_(static_cast<size_t>(device_slots), -1),
        host_(static_cast<size_t>(host_slots), -1) {}

  // Device to device (fork copies, copy-on-write).
  void copy_device(const std::vector<KvCopy>& copies) { apply(copies, device_, device_, "copy"); }
  void swap_out(const std::vector<KvCopy>& copies) { apply(copies, device_, host_, "swap_out"); }
  void swap_in(const std::vector<KvCopy>& copies) { apply(copies, host_, device_, "swap_in"); }
  // One step's movements in the order the SchedulerOutput contract gives.
  void apply_step(const std::vector<KvCopy>& swap_out_list, const std::vector<KvCopy>& swap_in_list,
                  const std::vector<KvCopy>& copies) {
    swap_out(swap_out_list);
    swap_in(swap_in_list);
    copy_device(copies);
  }

  // "Computes" tokens [from, to) of `seq`: writes their ids into the slots its layout names.
  void write(const KvCacheManager& kv, const Sequence& seq, int32_t from, int32_t to) {
    if (from >= to) return;
    const KvLayout layout = kv.layout(seq);
    for (int32_t i = from; i < to; ++i) {
      device_[checked_slot(layout, seq, i)] = token_at(seq, i);
    }
  }

  // Empty when tokens [0, seq.num_computed) read back through layout() are seq's own tokens;
  // otherwise describes the first mismatch.
  std::string check(const KvCacheManager& kv, const Sequence& seq) const {
    const KvLayout layout = kv.layout(seq);
    for (int32_t i = 0; i < seq.num_computed; ++i) {
      const int32_t got = device_[checked_slot(layout, seq, i)];
      if (got != token_at(seq, i)) {
        return "sequence " + std::to_string(seq.id) + " token " + std::to_string(i) + " reads " +
               std::to_string(got) + " from slot " + std::to_string(layout.slot_of(i)) +
               ", expected " + std::to_string(token_at(seq, i));
      }
    }
    return "";
  }

  int64_t device_slots() const { return static_cast<int64_t>(device_.size()); }
  int64_t host_slots() const { return static_cast<int64_t>(host_.size()); }

 private:
  static int32_t token_at(const Sequence& seq, int32_t i) {
    if (i < 0 || static_cast<size_t>(i) >= seq.token_ids.size()) {
      throw InvariantError("shadow arena: sequence " + std::to_string(seq.id) + " has no token " +
                           std::to_string(i));
    }
    return seq.token_ids[static_cast<size_t>(i)];
  }

  size_t checked_slot(const KvLayout& layout, const Sequence& seq, int32_t i) const {
    const bool in_layout =
        layout.kind == KvLayout::Kind::kPaged
            ? layout.block_size > 0 &&
                  static_cast<size_t>(i / layout.block_size) < layout.block_table.size()
            : i < layout.reserved_slots;
    if (!in_layout) {
      throw InvariantError("shadow arena: token " + std::to_string(i) + " of sequence " +
                           std::to_string(seq.id) + " is past its layout");
    }
    const int64_t slot = layout.slot_of(i);
    if (slot < 0 || slot >= device_slots()) {
      throw InvariantError("shadow arena: slot " + std::to_string(slot) +
                           " outside the device arena");
    }
    return static_cast<size_t>(slot);
  }

  static void apply(const std::vector<KvCopy>& copies, const std::vector<int32_t>& from,
                    std::vector<int32_t>& to, const char* what) {
    for (const KvCopy& c : copies) {
      const bool ok = c.num_slots > 0 && c.src_slot >= 0 &&
                      c.src_slot + c.num_slots <= static_cast<int64_t>(from.size()) &&
                      c.dst_slot >= 0 &&
                      c.dst_slot + c.num_slots <= static_cast<int64_t>(to.size());
      if (!ok) {
        throw InvariantError(std::string("shadow arena: ") + what +
                             " copy out of range: " + std::to_string(c.src_slot) + " -> " +
                             std::to_string(c.dst_slot) + " x " + std::to_string(c.num_slots));
      }
      // Through a buffer: a copy within one space may overlap itself.
      const auto begin = from.begin() + c.src_slot;
      const std::vector<int32_t> data(begin, begin + c.num_slots);
      std::copy(data.begin(), data.end(), to.begin() + c.dst_slot);
    }
  }

  std::vector<int32_t> device_;
  std::vector<int32_t> host_;
};

// Checks what every manager promises at any time: audit() passes, the breakdown's parts are
// non-negative and sum to capacity_slots(), and free + external_frag + cached (a prefix
// cache's evictable blocks) are the free slots.
inline void expect_consistent(const KvCacheManager& kv, const SequenceGroup* head_of_line) {
  kv.audit();
  const MemoryBreakdown b = kv.breakdown(head_of_line);
  const bool ok = b.capacity == kv.capacity_slots() && b.sum() == b.capacity &&
                  b.token_states >= 0 && b.reserved >= 0 && b.internal_frag >= 0 &&
                  b.external_frag >= 0 && b.free >= 0 && b.cached >= 0 &&
                  b.free + b.external_frag + b.cached == kv.free_slots() && kv.free_slots() >= 0 &&
                  kv.free_slots() <= kv.capacity_slots();
  if (!ok) {
    throw InvariantError(kv.name() + " breakdown " + std::to_string(b.token_states) + " + " +
                         std::to_string(b.reserved) + " + " + std::to_string(b.internal_frag) +
                         " + " + std::to_string(b.external_frag) + " + " + std::to_string(b.free) +
                         " vs capacity " + std::to_string(b.capacity) + " / " +
                         std::to_string(kv.capacity_slots()) + ", free_slots " +
                         std::to_string(kv.free_slots()));
  }
}

// Drives a manager as the Engine and a scheduler would, with a shadow arena. Each operation
// does the manager calls, applies the returned movements, updates the sequences and checks
// consistency. Groups passed in must outlive the driver's use of them.
class KvDriver {
 public:
  explicit KvDriver(KvCacheManager& kv, int32_t first_token = 1000000)
      : kv_(kv), arena_(kv.capacity_slots(), kv.host_capacity_slots()), tokens_(first_token) {
    check();
  }

  KvCacheManager& kv() { return kv_; }
  ShadowArena& arena() { return arena_; }
  TokenSource& tokens() { return tokens_; }
  std::unique_ptr<SequenceGroup> new_group(const RequestSpec& spec) {
    return make_group(spec, tokens_);
  }
  // The group breakdown() is asked about as head of line (may be null).
  void set_head_of_line(const SequenceGroup* g) { head_of_line_ = g; }

  // can_admit, and admit when it says kOk. The group becomes running, with what the manager
  // found cached computed (as the scheduler does: KvCacheManager::cached_prefix).
  AllocStatus try_admit(SequenceGroup& g) {
    const AllocStatus s = kv_.can_admit(g);
    if (s != AllocStatus::kOk) return s;
    std::vector<int32_t> probed;
    for (const Sequence& q : g.seqs)
      probed.push_back(q.is_finished() ? 0 : kv_.probe_cached_prefix(q));
    kv_.admit(g);
    g.status = GroupStatus::kRunning;
    for (size_t i = 0; i < g.seqs.size(); ++i) {
      Sequence& q = g.seqs[i];
      if (q.is_finished()) continue;
      q.status = SeqStatus::kRunning;
      q.num_computed = kv_.cached_prefix(q);
      // The probe promised what admit gives the first sequence (later ones may find more: the
      // blocks the earlier ones brought back).
      if (i == 0 && probed[0] != q.num_computed) {
        throw InvariantError("driver: probe_cached_prefix " + std::to_string(probed[0]) +
                             " but admit found " + std::to_string(q.num_computed));
      }
      cached_tokens_ += q.num_computed;
    }
    check();
    return s;
  }

  // Computes every pending token of each unfinished sequence and samples one token for each
  // (the prompt step, or the recompute after a recompute preemption). A group that has not
  // forked and has n > 1 then needs fork_samples() before anything else happens to it.
  // Returns true when the group needs that fork.
  bool prefill(SequenceGroup& g) {
    for (Sequence& q : g.seqs) {
      if (q.is_finished()) continue;
      arena_.write(kv_, q, q.num_computed, q.num_tokens());
      q.num_computed = q.num_tokens();
      kv_.on_computed(q);
    }
    const bool needs_fork = !g.has_forked() && g.spec.n > 1;
    for (Sequence& q : g.seqs) {
      if (q.is_finished()) continue;
      sample(q, /*finish=*/!needs_fork);
    }
    check();
    return needs_fork;
  }

  // The scheduler's fork after the prompt (update_from_output): n - 1 children copy the parent
  // as it was before its first sample and get first tokens of their own; their copies run at
  // once; the parent finishes if it is done.
  void fork_samples(SequenceGroup& g) {
    Sequence& parent = g.seqs[0];
    Sequence before = parent;
    before.num_generated -= 1;
    before.token_ids.pop_back();
    std::vector<KvCopy> fork_copies;
    for (int32_t i = 1; i < g.spec.n; ++i) {
      Sequence& child = g.add_child(before, make_seq_id(g.id(), i));
      child.token_ids.push_back(tokens_.next());
      child.num_generated += 1;
      if (child.num_generated >= g.spec.output_len) {
        child.status = SeqStatus::kFinished;  // never holds memory of its own
        continue;
      }
      const std::vector<KvCopy> c = kv_.fork(parent, child);
      fork_copies.insert(fork_copies.end(), c.begin(), c.end());
    }
    arena_.copy_device(fork_copies);
    finish_if_done(parent);
    check();
  }

  // One decode step for every unfinished sequence of `g`: can_append, append_slot for each
  // (copy-on-write copies run before any compute), compute the pending token, sample; finished
  // sequences are released. Returns false (and changes nothing) when can_append says no.
  bool decode(SequenceGroup& g) {
    if (!kv_.can_append(g)) return false;
    std::vector<KvCopy> copies;
    for (Sequence& q : g.seqs) {
      if (q.is_finished()) continue;
      const std::vector<KvCopy> c = kv_.append_slot(q);
      copies.insert(copies.end(), c.begin(), c.end());
    }
    arena_.copy_device(copies);
    last_copies_ = copies;
    for (Sequence& q : g.seqs) {
      if (q.is_finished()) continue;
      if (q.num_pending() != 1) throw InvariantError("driver: decode without one pending token");
      arena_.write(kv_, q, q.num_computed, q.num_computed + 1);
      q.num_computed += 1;
      kv_.on_computed(q);
      sample(q, /*finish=*/true);
    }
    if (g.num_unfinished() == 0) g.status = GroupStatus::kFinished;
    check();
    return true;
  }

  AllocStatus try_swap_out(SequenceGroup& g) {
    const AllocStatus s = kv_.can_swap_out(g);
    if (s != AllocStatus::kOk) return s;
    last_swap_out_ = kv_.swap_out(g);
    arena_.swap_out(last_swap_out_);
    g.status = GroupStatus::kSwapped;
    for (Sequence& q : g.seqs) {
      if (!q.is_finished()) q.status = SeqStatus::kSwapped;
    }
    g.num_swaps += 1;
    check();
    return s;
  }

  AllocStatus try_swap_in(SequenceGroup& g) {
    const AllocStatus s = kv_.can_swap_in(g);
    if (s != AllocStatus::kOk) return s;
    last_swap_in_ = kv_.swap_in(g);
    arena_.swap_in(last_swap_in_);
    g.status = GroupStatus::kRunning;
    for (Sequence& q : g.seqs) {
      if (!q.is_finished()) q.status = SeqStatus::kRunning;
    }
    check();
    expect_data(g);
    return s;
  }

  // Recompute preemption: all memory released, nothing computed, back to waiting.
  void preempt_recompute(SequenceGroup& g) {
    for (Sequence& q : g.seqs) {
      if (q.is_finished()) continue;
      kv_.release(q);
      q.num_computed = 0;
      q.status = SeqStatus::kWaiting;
    }
    g.status = GroupStatus::kWaiting;
    g.num_recomputes += 1;
    check();
  }

  // Drops a group (a cancelled request): releases whatever it holds, device or host.
  void abort(SequenceGroup& g) {
    for (Sequence& q : g.seqs) {
      if (q.is_finished()) continue;
      kv_.release(q);
      q.status = SeqStatus::kFinished;
    }
    g.status = GroupStatus::kFinished;
    check();
  }

  // Every unfinished device-resident sequence of `g` reads back its own computed tokens.
  void expect_data(const SequenceGroup& g) const {
    for (const Sequence& q : g.seqs) {
      if (q.is_finished()) continue;
      const std::string problem = arena_.check(kv_, q);
      if (!problem.empty()) throw InvariantError(kv_.name() + ": " + problem);
    }
  }

  void check() const { expect_consistent(kv_, head_of_line_); }

  // Tokens admissions found cached (prefix caching), over the driver's life.
  int64_t cached_tokens() const { return cached_tokens_; }
  const std::vector<KvCopy>& last_swap_out() const { return last_swap_out_; }
  const std::vector<KvCopy>& last_swap_in() const { return last_swap_in_; }
  // The copy-on-write copies of the last decode().
  const std::vector<KvCopy>& last_copies() const { return last_copies_; }

 private:
  void sample(Sequence& q, bool finish) {
    q.token_ids.push_back(tokens_.next());
    q.num_generated += 1;
    if (finish) finish_if_done(q);
  }
  void finish_if_done(Sequence& q) {
    if (q.num_generated >= q.group->spec.output_len && !q.is_finished()) {
      q.status = SeqStatus::kFinished;
      kv_.release(q);
    }
    if (q.group->num_unfinished() == 0) q.group->status = GroupStatus::kFinished;
  }

  KvCacheManager& kv_;
  ShadowArena arena_;
  TokenSource tokens_;
  const SequenceGroup* head_of_line_ = nullptr;
  std::vector<KvCopy> last_swap_out_, last_swap_in_, last_copies_;
  int64_t cached_tokens_ = 0;
};

// A fixed-shape probe of the host pool: admits, prefills and swaps out groups one at a time
// until the pool refuses, then releases them all. Two managers of one configuration give the
// same count only if the host pool holds nothing else: compare against a fresh manager to
// catch host-pool leaks through the interface alone.
inline int64_t count_swappable_groups(KvCacheManager& kv, int32_t prompt_len = 8,
                                      int64_t limit = 100000) {
  KvDriver driver(kv, /*first_token=*/2000000000);
  std::vector<std::unique_ptr<SequenceGroup>> groups;
  int64_t count = 0;
  for (int64_t i = 0; i < limit; ++i) {
    auto g = driver.new_group(make_spec(1000000 + i, prompt_len, 4));
    if (driver.try_admit(*g) != AllocStatus::kOk) break;
    driver.prefill(*g);
    const bool swapped = driver.try_swap_out(*g) == AllocStatus::kOk;
    groups.push_back(std::move(g));
    if (!swapped) break;
    ++count;
  }
  for (auto& g : groups) driver.abort(*g);
  return count;
}

}  // namespace kvlab::testutil
