// Eviction policies (policies/eviction/eviction.h), tested through the interface alone:
//  - eviction/EvictionContract.*/<policy>, over every registered policy: only evictable
//    blocks are evicted, each once; num_evictable and is_evictable follow on_free, on_hit and
//    evict; repeated evict() gives up every evictable block; and long random sequences of
//    operations (seeded, within the cache's promises) agree with a shadow model, audited after
//    every operation, and for the built-in rules each victim is the one a naive reference of
//    the rule names;
//  - eviction/LruOrder.*, eviction/LfuOrder.*, eviction/LeafLruOrder.*: each built-in rule's
//    order, as tables of operations and the victims expected.
#include "policies/eviction/eviction.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/errors.h"
#include "tests/memory/kv_test_util.h"

namespace kvlab {
namespace {

constexpr int32_t kBlocks = 64;

// What the cache knows of its blocks, kept beside the policy: holders, parents, and the
// events the built-in rules order by (each stamped with a distinct time).
struct Model {
  explicit Model(int32_t n)
      : cached(n, false), holders(n, 0), parent(n, -1), hits(n, 0), freed(n, 0), used(n, 0) {}

  int32_t size() const { return static_cast<int32_t>(cached.size()); }
  bool evictable(int32_t b) const { return cached[b] && holders[b] == 0; }
  bool has_cached_child(int32_t b) const {
    for (int32_t c = 0; c < size(); ++c) {
      if (cached[c] && parent[c] == b) return true;
    }
    return false;
  }
  bool has_held_child(int32_t b) const {
    for (int32_t c = 0; c < size(); ++c) {
      if (cached[c] && parent[c] == b && holders[c] > 0) return true;
    }
    return false;
  }
  int32_t num_evictable() const {
    int32_t n = 0;
    for (int32_t b = 0; b < size(); ++b) n += evictable(b) ? 1 : 0;
    return n;
  }

  std::vector<bool> cached;
  std::vector<int32_t> holders;
  std::vector<int32_t> parent;
  std::vector<int64_t> hits;   // since cached
  std::vector<int64_t> freed;  // last on_free
  std::vector<int64_t> used;   // last on_cache or on_hit
  int64_t clock = 0;
};

// The evictable block minimising `key`, or -1.
template <typename KeyFn>
int32_t argmin_evictable(const Model& m, KeyFn key, bool leaves_only = false) {
  int32_t best = -1;
  for (int32_t b = 0; b < m.size(); ++b) {
    if (!m.evictable(b) || (leaves_only && m.has_cached_child(b))) continue;
    if (best == -1 || key(b) < key(best)) best = b;
  }
  return best;
}

// Naive references of the built-in rules: the victim each names for a model.
const std::map<std::string, std::function<int32_t(const Model&)>>& reference_rules() {
  static const std::map<std::string, std::function<int32_t(const Model&)>> rules = {
      {"lru",
       [](const Model& m) { return argmin_evictable(m, [&](int32_t b) { return m.freed[b]; }); }},
      {"lfu",
       [](const Model& m) {
         return argmin_evictable(m,
                                 [&](int32_t b) { return std::tuple(m.hits[b], m.freed[b], b); });
       }},
      {"leaf-lru",
       [](const Model& m) {
         return argmin_evictable(
             m, [&](int32_t b) { return m.used[b]; }, /*leaves_only=*/true);
       }},
  };
  return rules;
}

// Drives a policy as the prefix cache would, keeping the model in step and checking the
// policy's counts and audit after every operation.
class Harness {
 public:
  Harness(EvictionPolicy& policy, int32_t n) : policy_(policy), model_(n) {}

  const Model& model() const { return model_; }
  EvictionPolicy& policy() { return policy_; }

  // A new cached block with one holder. REQUIRES: parent -1 or held.
  void cache(int32_t b, int32_t parent = -1) {
    policy_.on_cache(b, parent);
    model_.cached[b] = true;
    model_.holders[b] = 1;
    model_.parent[b] = parent;
    model_.hits[b] = 0;
    model_.used[b] = ++model_.clock;
    check();
  }
  // A request finds b: one more holder.
  void hit(int32_t b) {
    policy_.on_hit(b);
    model_.holders[b] += 1;
    model_.hits[b] += 1;
    model_.used[b] = ++model_.clock;
    check();
  }
  // One holder lets go; on_free when it was the last.
  void drop(int32_t b) {
    if (--model_.holders[b] == 0) {
      policy_.on_free(b);
      model_.freed[b] = ++model_.clock;
    }
    check();
  }
  // A holder of `chain` (front to back) lets go, tail first.
  void drop_chain(const std::vector<int32_t>& chain) {
    for (size_t i = chain.size(); i-- > 0;) drop(chain[i]);
  }
  // evict(), checking that the victim was evictable (and, when `reference` is known, the one
  // the rule names); the model forgets it and its children become roots.
  int32_t evict() {
    const int32_t expected = reference_ ? reference_(model_) : -1;
    const int32_t victim = policy_.evict();
    EXPECT_TRUE(victim >= 0 && victim < model_.size() && model_.evictable(victim))
        << policy_.name() << " evicted block " << victim << ", which is not evictable";
    if (reference_) {
      EXPECT_EQ(victim, expected) << policy_.name() << ": victim";
    }
    if (victim < 0 || victim >= model_.size()) return victim;
    model_.cached[victim] = false;
    for (int32_t c = 0; c < model_.size(); ++c) {
      if (model_.parent[c] == victim) model_.parent[c] = -1;
    }
    model_.parent[victim] = -1;
    check();
    return victim;
  }
  // Evicts until nothing is evictable; the victims in order.
  std::vector<int32_t> evict_all() {
    std::vector<int32_t> out;
    while (policy_.num_evictable() > 0 && out.size() <= static_cast<size_t>(model_.size())) {
      out.push_back(evict());
    }
    return out;
  }

  void check_order_against_reference() {
    const auto& rules = reference_rules();
    const auto it = rules.find(policy_.name());
    if (it != rules.end()) reference_ = it->second;
  }

  void check() const {
    ASSERT_EQ(policy_.num_evictable(), model_.num_evictable()) << policy_.name();
    for (int32_t b = 0; b < model_.size(); ++b) {
      ASSERT_EQ(policy_.is_evictable(b), model_.evictable(b)) << policy_.name() << " block " << b;
    }
    policy_.audit();
  }

 private:
  EvictionPolicy& policy_;
  Model model_;
  std::function<int32_t(const Model&)> reference_;
};

class EvictionTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    policy_ = eviction_policies().create(GetParam(), EvictionConfig{kBlocks});
    harness_ = std::make_unique<Harness>(*policy_, kBlocks);
  }
  Harness& h() { return *harness_; }
  EvictionPolicy& policy() { return *policy_; }

  std::unique_ptr<EvictionPolicy> policy_;
  std::unique_ptr<Harness> harness_;
};

std::string policy_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

// ---- the contract, every policy -----------------------------------------------------------

class EvictionContract : public EvictionTest {};

TEST_P(EvictionContract, StartsWithNothingEvictable) {
  EXPECT_EQ(policy().name(), GetParam());
  EXPECT_EQ(policy().num_evictable(), 0);
  for (int32_t b = 0; b < kBlocks; ++b) EXPECT_FALSE(policy().is_evictable(b));
  policy().audit();
}

TEST_P(EvictionContract, FreeMakesABlockEvictableAndAHitTakesItBack) {
  for (int32_t b = 0; b < 4; ++b) h().cache(b);
  h().drop(1);
  h().drop(2);
  EXPECT_EQ(policy().num_evictable(), 2);
  EXPECT_TRUE(policy().is_evictable(1));
  EXPECT_FALSE(policy().is_evictable(0));
  h().hit(1);  // evictable: no longer
  EXPECT_FALSE(policy().is_evictable(1));
  EXPECT_EQ(policy().num_evictable(), 1);
  h().hit(0);  // in use: shared once more, counts unchanged
  EXPECT_EQ(policy().num_evictable(), 1);
  h().drop(0);
  EXPECT_FALSE(policy().is_evictable(0));  // a holder is left
  h().drop(1);
  EXPECT_EQ(policy().num_evictable(), 2);
}

// Two requests sharing a prefix, a second tree, a chain still in use: every evictable block
// comes out of repeated evict(), once each, and no block in use does.
TEST_P(EvictionContract, RepeatedEvictGivesUpEveryEvictableBlockOnce) {
  h().cache(0);
  h().cache(1, 0);
  h().cache(2, 1);
  h().cache(3, 2);  // request A: 0 1 2 3
  h().hit(0);
  h().hit(1);
  h().cache(4, 1);
  h().cache(5, 4);  // request B: 0 1 4 5
  h().cache(6);
  h().cache(7);
  h().cache(8, 7);
  h().cache(10);
  h().cache(11, 10);  // held throughout
  h().drop_chain({0, 1, 2, 3});
  h().drop(6);
  h().drop_chain({7, 8});
  h().drop_chain({0, 1, 4, 5});
  EXPECT_EQ(policy().num_evictable(), 9);
  std::vector<int32_t> victims = h().evict_all();
  std::sort(victims.begin(), victims.end());
  EXPECT_EQ(victims, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(policy().num_evictable(), 0);
  EXPECT_FALSE(policy().is_evictable(10));
  EXPECT_FALSE(policy().is_evictable(11));
}

TEST_P(EvictionContract, AnEvictedBlockCanBeCachedAgain) {
  h().cache(0);
  h().cache(1, 0);
  h().drop_chain({0, 1});
  h().cache(2);
  const int32_t first = h().evict();
  h().cache(first, 2);  // new content, behind a block in use
  h().drop_chain({2, first});
  EXPECT_EQ(h().evict_all().size(), 3u);
}

TEST_P(EvictionContract, ViolationsOfTheCallOrderThrow) {
  EXPECT_THROW(policy().evict(), InvariantError);  // nothing evictable
  EXPECT_THROW(policy().on_free(kBlocks), InvariantError);
  EXPECT_THROW(policy().on_cache(-1, -1), InvariantError);
  h().cache(0);
  h().drop(0);
  EXPECT_THROW(policy().on_free(0), InvariantError);  // freed twice
}

// Random operations within the cache's promises (a block's parent is in use when it is
// cached and when it is hit out of the evictable pool; a block is freed after its children),
// chosen by a seeded RNG; every operation is checked against the model.
TEST_P(EvictionContract, RandomOperationsAgreeWithTheShadowModel) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto policy = eviction_policies().create(GetParam(), EvictionConfig{kBlocks});
    Harness harness(*policy, kBlocks);
    harness.check_order_against_reference();
    testutil::Rng rng(seed);
    const Model& m = harness.model();
    auto pick = [&](auto eligible) {
      std::vector<int32_t> out;
      for (int32_t b = 0; b < kBlocks; ++b) {
        if (eligible(b)) out.push_back(b);
      }
      return out.empty() ? -1 : out[static_cast<size_t>(rng.uniform(0, int64_t(out.size()) - 1))];
    };
    int64_t done = 0, evictions = 0, hits_on_evictable = 0;
    for (int64_t attempt = 0; done < 20000 && attempt < 200000; ++attempt) {
      const int64_t op = rng.uniform(0, 15);
      if (op < 4) {  // cache a new block, a root or behind a block in use
        const int32_t b = pick([&](int32_t x) { return !m.cached[x]; });
        if (b < 0) continue;
        const int32_t parent =
            rng.chance(0.3) ? -1 : pick([&](int32_t x) { return m.cached[x] && m.holders[x] > 0; });
        harness.cache(b, parent);
      } else if (op < 8) {  // a request finds a block (half the time, an evictable one)
        const bool evictable_only = rng.chance(0.5);
        const int32_t b = pick([&](int32_t x) {
          return m.cached[x] &&
                 (m.holders[x] > 0 ? !evictable_only
                                   : m.parent[x] == -1 || m.holders[m.parent[x]] > 0);
        });
        if (b < 0) continue;
        hits_on_evictable += m.holders[b] == 0 ? 1 : 0;
        harness.hit(b);
      } else if (op < 13) {  // a holder lets go
        const int32_t b = pick([&](int32_t x) {
          return m.cached[x] && m.holders[x] > 0 && (m.holders[x] > 1 || !m.has_held_child(x));
        });
        if (b < 0) continue;
        harness.drop(b);
      } else {  // the cache needs a block
        if (m.num_evictable() == 0) continue;
        harness.evict();
        ++evictions;
      }
      if (HasFatalFailure()) return;
      ++done;
    }
    EXPECT_EQ(done, 20000);
    EXPECT_GT(evictions, 1000);
    EXPECT_GT(hits_on_evictable, 1000);
    harness.evict_all();  // and everything evictable can still go
    EXPECT_EQ(policy->num_evictable(), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(eviction, EvictionContract,
                         ::testing::ValuesIn(eviction_policies().names()), policy_name);

// ---- each rule's order --------------------------------------------------------------------

class LruOrder : public EvictionTest {};

TEST_P(LruOrder, LeastRecentlyFreedFirst) {
  for (int32_t b = 0; b < 5; ++b) h().cache(b);
  for (int32_t b : {3, 1, 4, 0}) h().drop(b);
  EXPECT_EQ(h().evict_all(), (std::vector<int32_t>{3, 1, 4, 0}));
  EXPECT_FALSE(policy().is_evictable(2));
}

TEST_P(LruOrder, AHitBlockFreedAgainGoesLast) {
  for (int32_t b = 0; b < 3; ++b) h().cache(b);
  for (int32_t b = 0; b < 3; ++b) h().drop(b);
  h().hit(0);
  h().drop(0);
  EXPECT_EQ(h().evict_all(), (std::vector<int32_t>{1, 2, 0}));
}

TEST_P(LruOrder, ARequestsChainGoesTailFirst) {
  h().cache(0);
  h().cache(1, 0);
  h().cache(2, 1);
  h().drop_chain({0, 1, 2});
  EXPECT_EQ(h().evict_all(), (std::vector<int32_t>{2, 1, 0}));
}

INSTANTIATE_TEST_SUITE_P(eviction, LruOrder, ::testing::Values(std::string("lru")), policy_name);

class LfuOrder : public EvictionTest {};

// Freed 0, 1, 2 (lru's order), but 0 was found twice and 1 once: 2 goes first.
TEST_P(LfuOrder, FewerHitsFirstWhateverTheRecency) {
  for (int32_t b = 0; b < 3; ++b) h().cache(b);
  h().hit(0);  // hits count whether the block is in use or evictable
  h().hit(0);
  h().hit(1);
  for (int i = 0; i < 3; ++i) h().drop(0);
  for (int i = 0; i < 2; ++i) h().drop(1);
  h().drop(2);
  EXPECT_EQ(h().evict_all(), (std::vector<int32_t>{2, 1, 0}));
}

TEST_P(LfuOrder, EqualHitsGoLeastRecentlyFreedFirst) {
  for (int32_t b = 0; b < 3; ++b) h().cache(b);
  for (int32_t b = 0; b < 3; ++b) h().hit(b);
  for (int32_t b : {1, 2, 0}) {
    h().drop(b);
    h().drop(b);
  }
  EXPECT_EQ(h().evict_all(), (std::vector<int32_t>{1, 2, 0}));
}

// Hits count from the block's caching: a block evicted and cached again starts from zero.
TEST_P(LfuOrder, HitsCountSinceTheBlockWasCached) {
  h().cache(0);
  for (int i = 0; i < 3; ++i) h().hit(0);
  for (int i = 0; i < 4; ++i) h().drop(0);
  EXPECT_EQ(h().evict(), 0);
  h().cache(0);  // new content, no hits
  h().cache(1);
  h().hit(1);
  h().drop(1);
  h().drop(1);
  h().drop(0);  // freed after 1: lru would take 1 first
  EXPECT_EQ(h().evict_all(), (std::vector<int32_t>{0, 1}));
}

INSTANTIATE_TEST_SUITE_P(eviction, LfuOrder, ::testing::Values(std::string("lfu")), policy_name);

class LeafLruOrder : public EvictionTest {};

TEST_P(LeafLruOrder, EvictsAChainTailFirst) {
  h().cache(0);
  h().cache(1, 0);
  h().cache(2, 1);
  h().cache(3, 2);
  h().drop_chain({0, 1, 2, 3});
  EXPECT_EQ(h().evict_all(), (std::vector<int32_t>{3, 2, 1, 0}));
}

// Request A caches 0 1 2; request B finds 0 1 and caches 3 behind 1, and finishes first.
// Leaves by last use: 2 (A cached it), then 3 (B, later); 1 becomes a leaf when both are
// gone, then 0. No victim ever has a cached child. (lru, by time freed: 3 2 1 0.)
TEST_P(LeafLruOrder, NeverEvictsABlockWithACachedChild) {
  h().cache(0);
  h().cache(1, 0);
  h().cache(2, 1);
  h().hit(0);
  h().hit(1);
  h().cache(3, 1);
  h().drop_chain({0, 1, 3});
  h().drop_chain({0, 1, 2});
  std::vector<int32_t> victims;
  while (policy().num_evictable() > 0) {
    const int32_t v = h().evict();
    for (int32_t c = 0; c < kBlocks; ++c) {
      EXPECT_FALSE(h().model().cached[c] && h().model().parent[c] == v)
          << "evicted " << v << " with cached child " << c;
    }
    victims.push_back(v);
  }
  EXPECT_EQ(victims, (std::vector<int32_t>{2, 3, 1, 0}));
}

// Recency is last use, not the time freed: 0 was cached first, so it goes first although
// it was freed last.
TEST_P(LeafLruOrder, LeastRecentlyUsedNotLeastRecentlyFreed) {
  h().cache(0);
  h().cache(1);
  h().drop(1);
  h().drop(0);
  EXPECT_EQ(h().evict_all(), (std::vector<int32_t>{0, 1}));
}

// The promise num_evictable rests on (eviction.h) is checked where it could break.
TEST_P(LeafLruOrder, RefusesCallsThatBreakTheCachesPromise) {
  h().cache(0);
  h().cache(1, 0);
  EXPECT_THROW(policy().on_free(0), InvariantError);  // a child is still in use
  h().drop_chain({0, 1});
  EXPECT_THROW(policy().on_cache(2, 0), InvariantError);  // parent not in use
  EXPECT_THROW(policy().on_hit(1), InvariantError);       // before its parent
  h().hit(0);
  h().hit(1);
  h().drop_chain({0, 1});
  policy().audit();
}

INSTANTIATE_TEST_SUITE_P(eviction, LeafLruOrder, ::testing::Values(std::string("leaf-lru")),
                         policy_name);

}  // namespace
}  // namespace kvlab
