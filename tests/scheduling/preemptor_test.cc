// The Preemptor on its own, over hand-built queues and a paged manager: victim choice, the
// order recompute-preempted groups take at the front of waiting, swap, and the swap that
// falls back to recompute when the host pool is full.
#include "policies/scheduling/preemptor.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "core/kv_cache_manager.h"
#include "tests/scheduling/scheduler_harness.h"

namespace kvlab::testing {
namespace {

// A Preemptor with the registered preemption mode `mode` and the lifo victim rule.
Preemptor preemptor(const std::string& mode) {
  return Preemptor(preemption_rules().create(mode, SchedulerConfig{}),
                   victim_rules().create("lifo", SchedulerConfig{}));
}

class PreemptorTest : public ::testing::Test {
 protected:
  // Five requests arriving at t = id; 0..3 are running with prompt 4 done and one token
  // sampled (4 slots each), 4 is waiting.
  void SetUp() override { build(/*swap_slots=*/0); }

  void build(int64_t swap_slots) {
    kv_ = memory_policies().create("paged", slot_budget(100, swap_slots));
    groups_.clear();
    queues_ = SchedulerQueues{};
    for (RequestId id = 0; id < 5; ++id) {
      RequestSpec spec;
      spec.id = id;
      spec.arrival_s = static_cast<double>(id);
      spec.prompt_len = 4;
      spec.output_len = 4;
      groups_.push_back(std::make_unique<SequenceGroup>(spec));
    }
    for (RequestId id = 0; id < 4; ++id) {
      SequenceGroup& g = *groups_[static_cast<size_t>(id)];
      kv_->admit(g);
      g.status = GroupStatus::kRunning;
      Sequence& s = g.seqs[0];
      s.status = SeqStatus::kRunning;
      s.num_computed = 4;
      s.num_generated = 1;
      queues_.running.push_back(&g);
    }
    queues_.waiting.push_back(groups_[4].get());
  }

  std::vector<RequestId> ids(const std::deque<SequenceGroup*>& queue) const {
    std::vector<RequestId> out;
    for (const SequenceGroup* g : queue) out.push_back(g->id());
    return out;
  }

  size_t index_of(RequestId id) const {
    for (size_t i = 0; i < queues_.running.size(); ++i) {
      if (queues_.running[i]->id() == id) return i;
    }
    ADD_FAILURE() << "request " << id << " not running";
    return 0;
  }

  std::unique_ptr<KvCacheManager> kv_;
  std::vector<std::unique_ptr<SequenceGroup>> groups_;
  SchedulerQueues queues_;
  SchedulerOutput output_;
};

TEST_F(PreemptorTest, LifoPicksTheLatestArrivalAmongTheCandidates) {
  Preemptor p = preemptor("recompute");
  EXPECT_EQ(p.pick_victim(queues_.running, 0), 3u);
  EXPECT_EQ(p.pick_victim(queues_.running, 3), 3u);  // only itself left
  // Out of arrival order, the rule still holds: candidates 1.. are {0, 2}, 2 is latest.
  queues_.running = {groups_[3].get(), groups_[0].get(), groups_[2].get()};
  EXPECT_EQ(p.pick_victim(queues_.running, 1), 2u);
}

TEST_F(PreemptorTest, RecomputedGroupsQueueAtTheFrontInArrivalOrder) {
  Preemptor p = preemptor("recompute");
  const int64_t free_before = kv_->free_slots();
  for (RequestId id : {2, 1, 3}) {
    EXPECT_EQ(p.preempt(queues_, index_of(id), *kv_, output_), PreemptionMode::kRecompute);
  }
  EXPECT_EQ(ids(queues_.waiting), (std::vector<RequestId>{1, 2, 3, 4}));
  EXPECT_EQ(ids(queues_.running), (std::vector<RequestId>{0}));
  EXPECT_EQ(kv_->free_slots(), free_before + 3 * 4);
  for (RequestId id : {1, 2, 3}) {
    const SequenceGroup& g = *groups_[static_cast<size_t>(id)];
    EXPECT_EQ(g.status, GroupStatus::kWaiting);
    EXPECT_EQ(g.seqs[0].status, SeqStatus::kWaiting);
    EXPECT_EQ(g.seqs[0].num_computed, 0);
    EXPECT_EQ(g.seqs[0].num_generated, 1);  // kept: recomputed, not regenerated
    EXPECT_EQ(g.num_preemptions, 1);
    EXPECT_EQ(g.num_recomputes, 1);
  }
  ASSERT_EQ(output_.preempted.size(), 3u);
  EXPECT_EQ(output_.preempted[0].group->id(), 2);
  EXPECT_TRUE(output_.swap_out.empty());
  kv_->audit();
}

TEST_F(PreemptorTest, SwapMovesTheGroupToTheHostPool) {
  build(/*swap_slots=*/16);
  Preemptor p = preemptor("swap");
  EXPECT_EQ(p.preempt(queues_, 3, *kv_, output_), PreemptionMode::kSwap);
  const SequenceGroup& g = *groups_[3];
  EXPECT_EQ(ids(queues_.swapped), (std::vector<RequestId>{3}));
  EXPECT_EQ(g.status, GroupStatus::kSwapped);
  EXPECT_EQ(g.seqs[0].status, SeqStatus::kSwapped);
  EXPECT_EQ(g.seqs[0].num_computed, 4);  // kept: its KV is on the host
  EXPECT_EQ(g.num_swaps, 1);
  EXPECT_EQ(g.swapped_slots, 4);
  int64_t moved = 0;
  for (const KvCopy& c : output_.swap_out) moved += c.num_slots;
  EXPECT_EQ(moved, 4);
  EXPECT_EQ(p.num_swap_fallbacks(), 0);
  kv_->audit();
}

TEST_F(PreemptorTest, SwapFallsBackToRecomputeWhenTheHostPoolIsFull) {
  build(/*swap_slots=*/6);  // room for one group of 4 slots, not two
  Preemptor p = preemptor("swap");
  EXPECT_EQ(p.preempt(queues_, 3, *kv_, output_), PreemptionMode::kSwap);
  EXPECT_EQ(p.preempt(queues_, 2, *kv_, output_), PreemptionMode::kRecompute);
  EXPECT_EQ(p.num_swap_fallbacks(), 1);
  const SequenceGroup& g = *groups_[2];
  EXPECT_EQ(g.num_swaps, 0);
  EXPECT_EQ(g.num_recomputes, 1);
  EXPECT_EQ(ids(queues_.waiting), (std::vector<RequestId>{2, 4}));
  ASSERT_EQ(output_.preempted.size(), 2u);
  EXPECT_EQ(output_.preempted[1].mode, PreemptionMode::kRecompute);
  kv_->audit();
}

TEST(PreemptorModeTest, AutoSwapsOnlyGroupsOfSeveralSequences) {
  Preemptor p = preemptor("auto");
  RequestSpec one;
  one.prompt_len = 4;
  one.output_len = 4;
  RequestSpec two = one;
  two.n = 2;
  EXPECT_EQ(p.preferred_mode(SequenceGroup(one)), PreemptionMode::kRecompute);
  // Before it forks, a group of two samples still counts as two (both are reserved).
  EXPECT_EQ(p.preferred_mode(SequenceGroup(two)), PreemptionMode::kSwap);
  // After forking, only unfinished samples count.
  SequenceGroup forked(two);
  forked.add_child(forked.seqs[0], make_seq_id(0, 1)).status = SeqStatus::kFinished;
  EXPECT_EQ(p.preferred_mode(forked), PreemptionMode::kRecompute);
}

}  // namespace
}  // namespace kvlab::testing
