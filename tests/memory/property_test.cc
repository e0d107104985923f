// Property test for every memory configuration: long random sequences of operations (arrive
// and admit, prefill, fork, decode with append_slot, swap out, swap in, recompute, abort),
// chosen by a seeded RNG among those the manager allows at that moment. After every
// operation the manager is audited and its breakdown must sum to capacity (KvDriver); the
// tokens every resident sequence reads back through layout() are checked against a shadow
// arena periodically and after every swap in; at the end nothing is leaked, on the device or
// in the host pool.
#include <gtest/gtest.h>

#include <array>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "policies/memory/paged.h"
#include "tests/memory/kv_test_util.h"

namespace kvlab {
namespace {

using testutil::KvDriver;
using testutil::make_spec;
using testutil::MemoryCase;

// Small arenas keep 100K audited operations to seconds in a Debug + ASan build.
constexpr int64_t kCapacity = 1024;
constexpr int64_t kSwap = 512;
constexpr int32_t kMaxSeqLen = 128;
constexpr int64_t kMinOperations = 100000;
constexpr int kDataCheckEvery = 1000;
constexpr size_t kMaxGroups = 12;

enum Op {
  kArrive,
  kAdmit,
  kPrefill,
  kFork,
  kDecode,
  kSwapOut,
  kSwapIn,
  kRecompute,
  kAbort,
  kNumOps
};
constexpr std::array<const char*, kNumOps> kOpNames = {
    "arrive", "admit", "prefill", "fork", "decode", "swap_out", "swap_in", "recompute", "abort"};
// Relative weights of the operation kinds the RNG draws.
constexpr std::array<int, kNumOps> kWeights = {6, 8, 10, 10, 50, 4, 6, 3, 1};

// Where a group is in its life, as the scheduler would track it.
enum class Phase { kWaiting, kNeedsPrefill, kNeedsFork, kDecoding, kSwapped };

struct Live {
  std::unique_ptr<SequenceGroup> group;
  Phase phase = Phase::kWaiting;
  Phase before_swap = Phase::kWaiting;  // where a swapped group resumes
};

class RandomWorkload {
 public:
  RandomWorkload(KvCacheManager& kv, uint64_t seed) : kv_(kv), driver_(kv), rng_(seed) {}

  // Runs until `min_ops` operations changed the manager's state.
  void run(int64_t min_ops) {
    int64_t attempts = 0;
    while (done_ < min_ops) {
      ASSERT_LT(++attempts, 50 * min_ops) << "the workload stopped making progress";
      step(draw_op());
      if (attempts % kDataCheckEvery == 0) check_all_data();
    }
  }

  // Drops every group, then checks that nothing is held anywhere.
  void finish() {
    for (Live& l : live_) {
      if (l.phase != Phase::kWaiting) driver_.abort(*l.group);
    }
    live_.clear();
    driver_.set_head_of_line(nullptr);
    EXPECT_EQ(kv_.free_slots(), kv_.capacity_slots());
  }

  const std::array<int64_t, kNumOps>& performed() const { return performed_; }
  int64_t cached_tokens() const { return driver_.cached_tokens(); }
  int64_t answers(AllocStatus s) const { return answers_[static_cast<size_t>(s)]; }

 private:
  Op draw_op() {
    int total = 0;
    for (int w : kWeights) total += w;
    int64_t x = rng_.uniform(0, total - 1);
    for (int op = 0; op < kNumOps; ++op) {
      if (x < kWeights[static_cast<size_t>(op)]) return static_cast<Op>(op);
      x -= kWeights[static_cast<size_t>(op)];
    }
    return kDecode;
  }

  // A random live group in one of `phases`, or null.
  Live* pick(std::initializer_list<Phase> phases) {
    std::vector<Live*> eligible;
    for (Live& l : live_) {
      for (Phase p : phases) {
        if (l.phase == p) eligible.push_back(&l);
      }
    }
    if (eligible.empty()) return nullptr;
    return eligible[static_cast<size_t>(
        rng_.uniform(0, static_cast<int64_t>(eligible.size()) - 1))];
  }

  RequestSpec random_spec() {
    RequestSpec s;
    s.id = next_id_++;
    if (rng_.chance(0.02)) {  // occasionally larger than a contiguous region or the arena
      s.prompt_len = static_cast<int32_t>(rng_.uniform(64, 800));
      s.output_len = static_cast<int32_t>(rng_.uniform(64, 800));
    } else {
      s.prompt_len = static_cast<int32_t>(rng_.uniform(1, 60));
      s.output_len = static_cast<int32_t>(rng_.uniform(1, kMaxSeqLen - 8 - s.prompt_len));
    }
    s.n = rng_.chance(0.6) ? 1 : static_cast<int32_t>(rng_.uniform(2, 4));
    RequestSpec out = make_spec(s.id, s.prompt_len, s.output_len, s.n);
    // Half the prompts begin with one of a few shared prefixes (a system prompt, an earlier
    // turn), so a prefix cache finds blocks other requests computed; the rest of the prompt is
    // the request's own tokens.
    if (rng_.chance(0.5)) {
      const auto& prefix = kSharedPrefixes[static_cast<size_t>(rng_.uniform(0, 3))];
      const int32_t shared =
          static_cast<int32_t>(std::min<int64_t>(out.prompt_len, rng_.uniform(1, 64)));
      out.prompt_tokens.assign(prefix.begin(), prefix.begin() + shared);
      while (static_cast<int32_t>(out.prompt_tokens.size()) < out.prompt_len) {
        out.prompt_tokens.push_back(driver_.tokens().next());
      }
    }
    return out;
  }

  // Four prefixes of 64 token ids, distinct from every id the driver hands out.
  static inline const std::array<std::vector<int32_t>, 4> kSharedPrefixes = [] {
    std::array<std::vector<int32_t>, 4> out;
    for (int32_t p = 0; p < 4; ++p) {
      for (int32_t i = 0; i < 64; ++i) out[static_cast<size_t>(p)].push_back(100 + 64 * p + i);
    }
    return out;
  }();

  void admit(Live& l) {
    const AllocStatus s = driver_.try_admit(*l.group);
    ++answers_[static_cast<size_t>(s)];
    if (s == AllocStatus::kOk) {
      l.phase = Phase::kNeedsPrefill;
      ++done_;
      ++performed_[kAdmit];
    } else if (s == AllocStatus::kNever) {
      l.group->status = GroupStatus::kRejected;  // dropped below
    }
  }

  void step(Op op) {
    switch (op) {
      case kArrive: {
        if (live_.size() >= kMaxGroups) return;
        live_.push_back(Live{driver_.new_group(random_spec())});
        ++performed_[kArrive];
        admit(live_.back());
        break;
      }
      case kAdmit:
        if (Live* l = pick({Phase::kWaiting})) admit(*l);
        break;
      case kPrefill:
        if (Live* l = pick({Phase::kNeedsPrefill})) {
          l->phase = driver_.prefill(*l->group) ? Phase::kNeedsFork : Phase::kDecoding;
          count(kPrefill);
        }
        break;
      case kFork:
        if (Live* l = pick({Phase::kNeedsFork})) {
          driver_.fork_samples(*l->group);
          l->phase = Phase::kDecoding;
          count(kFork);
        }
        break;
      case kDecode:
        if (Live* l = pick({Phase::kDecoding})) {
          if (driver_.decode(*l->group)) count(kDecode);
        }
        break;
      case kSwapOut:
        if (Live* l = pick({Phase::kDecoding, Phase::kNeedsPrefill})) {
          const AllocStatus s = driver_.try_swap_out(*l->group);
          if (s == AllocStatus::kOk) {
            l->before_swap = l->phase;
            l->phase = Phase::kSwapped;
            count(kSwapOut);
          }
        }
        break;
      case kSwapIn:
        if (Live* l = pick({Phase::kSwapped})) {
          if (driver_.try_swap_in(*l->group) == AllocStatus::kOk) {
            l->phase = l->before_swap;
            count(kSwapIn);
          }
        }
        break;
      case kRecompute:
        if (Live* l = pick({Phase::kDecoding, Phase::kNeedsPrefill})) {
          driver_.preempt_recompute(*l->group);
          l->phase = Phase::kWaiting;
          count(kRecompute);
        }
        break;
      case kAbort:
        if (Live* l =
                pick({Phase::kWaiting, Phase::kNeedsPrefill, Phase::kDecoding, Phase::kSwapped})) {
          if (l->phase != Phase::kWaiting) {
            driver_.abort(*l->group);
            count(kAbort);
          }
          l->group->status = GroupStatus::kFinished;
        }
        break;
      case kNumOps:
        break;
    }
    std::erase_if(live_, [](const Live& l) {
      return l.group->status == GroupStatus::kFinished || l.group->status == GroupStatus::kRejected;
    });
    const Live* head = nullptr;
    for (const Live& l : live_) {
      if (l.phase == Phase::kWaiting) {
        head = &l;
        break;
      }
    }
    driver_.set_head_of_line(head ? head->group.get() : nullptr);
  }

  void count(Op op) {
    ++performed_[op];
    ++done_;
  }

  void check_all_data() {
    for (const Live& l : live_) {
      if (l.phase == Phase::kDecoding || l.phase == Phase::kNeedsFork ||
          l.phase == Phase::kNeedsPrefill) {
        driver_.expect_data(*l.group);
      }
    }
  }

  KvCacheManager& kv_;
  KvDriver driver_;
  testutil::Rng rng_;
  std::vector<Live> live_;
  std::vector<Live*> eligible_;  // scratch for pick()
  RequestId next_id_ = 1;
  int64_t done_ = 0;
  std::array<int64_t, kNumOps> performed_{};
  std::array<int64_t, 3> answers_{};
};

class MemoryProperty : public ::testing::TestWithParam<MemoryCase> {};

TEST_P(MemoryProperty, RandomOperationsKeepEveryInvariant) {
  const MemoryConfig config = GetParam().config;
  auto kv = testutil::create_manager(config);
  RandomWorkload workload(*kv, /*seed=*/20240601);
  workload.run(kMinOperations);
  if (HasFatalFailure()) return;
  workload.finish();
  // Every kind of operation happened, and admission said all three answers.
  for (int op = 0; op < kNumOps; ++op) {
    EXPECT_GT(workload.performed()[static_cast<size_t>(op)], 50)
        << kOpNames[static_cast<size_t>(op)];
  }
  EXPECT_GT(workload.answers(AllocStatus::kLater), 0);
  EXPECT_GT(workload.answers(AllocStatus::kNever), 0);
  // With a prefix cache: admissions found cached blocks, and blocks were evicted (the shadow
  // arena checked that every cached block read back the right tokens).
  const PrefixCacheStats cache = kv->prefix_cache_stats();
  if (cache.enabled) {
    EXPECT_GT(cache.hit_blocks, 500);
    EXPECT_GT(cache.evicted_blocks, 500);
    EXPECT_GT(workload.cached_tokens(), 0);
  } else {
    EXPECT_EQ(workload.cached_tokens(), 0);
  }
  // Nothing leaked in the host pool: it takes as many probe groups as a fresh one.
  auto fresh = testutil::create_manager(config);
  EXPECT_EQ(testutil::count_swappable_groups(*kv, 16),
            testutil::count_swappable_groups(*fresh, 16));
  if (auto* paged = dynamic_cast<PagedKvCacheManager*>(kv.get())) {
    EXPECT_EQ(paged->num_free_host_blocks(), paged->num_host_blocks());
    EXPECT_EQ(paged->num_free_blocks(), paged->num_blocks());
  }
  kv->audit();
}

// Block size 1 audits one table entry per token: half the arena keeps it as fast as the rest.
std::vector<MemoryCase> property_cases() {
  std::vector<MemoryCase> cases = testutil::all_memory_cases(kCapacity, kSwap, kMaxSeqLen, 0.01);
  for (MemoryCase& c : cases) {
    if (c.name == "paged_bs1") c.config.capacity_slots /= 2;
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, MemoryProperty, ::testing::ValuesIn(property_cases()),
                         testutil::case_name);

}  // namespace
}  // namespace kvlab
