// apply_step_result, the one Scheduler::update_from_output of every batching policy: the
// executed step's tokens are appended in draw order, samples fork when their prompt is done
// (their copies returned, not run), finished sequences are released and finished groups
// leave `running`; an executor that returns the wrong number of ids is an invariant error.
#include "policies/scheduling/step_update.h"

#include <gtest/gtest.h>

#include <memory>

#include "core/errors.h"

namespace kvlab {
namespace {

RequestSpec spec(RequestId id, int32_t prompt, int32_t output, int32_t n) {
  RequestSpec r;
  r.id = id;
  r.prompt_len = prompt;
  r.output_len = output;
  r.n = n;
  r.prompt_tokens.assign(static_cast<size_t>(prompt), 3);
  return r;
}

struct Step {
  explicit Step(const std::string& policy, RequestSpec request) : group(std::move(request)) {
    MemoryConfig c;
    c.policy = policy;
    c.capacity_slots = 256;
    c.max_seq_len = 64;
    c.settings.set("memory.reservation", "oracle");
    kv = memory_policies().create(policy, c);
    kv->admit(group);
    group.status = GroupStatus::kRunning;
    group.seqs[0].status = SeqStatus::kRunning;
    queues.running.push_back(&group);
    Sequence& seq = group.seqs[0];
    plan.prefills.push_back({&seq, 0, seq.num_pending(), true});
    plan.num_prefill_tokens = seq.num_pending();
  }
  StepUpdate apply(std::vector<int32_t> ids) {
    StepResult result;
    result.token_ids = std::move(ids);
    return apply_step_result(plan, result, queues, *kv);
  }
  SequenceGroup group;
  std::unique_ptr<KvCacheManager> kv;
  SchedulerQueues queues;
  SchedulerOutput plan;
};

TEST(StepUpdate, ForksSamplesAndReturnsTheContiguousCopies) {
  Step s("contiguous", spec(1, 10, 3, 3));
  const StepUpdate update = s.apply({40, 41, 42});
  ASSERT_EQ(s.group.seqs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const Sequence& q = s.group.seqs[static_cast<size_t>(i)];
    EXPECT_EQ(q.num_computed, 10);
    EXPECT_EQ(q.num_generated, 1);
    EXPECT_EQ(q.token_ids.back(), 40 + i) << "sample " << i;
  }
  // Each child's region gets a copy of the prompt's 10 computed slots; nothing ran yet.
  ASSERT_EQ(update.fork_copies.size(), 2u);
  for (const KvCopy& c : update.fork_copies) EXPECT_EQ(c.num_slots, 10);
  EXPECT_TRUE(update.finished.empty());
  EXPECT_EQ(s.queues.running.size(), 1u);
  s.kv->audit();
}

TEST(StepUpdate, PagedForksShareAndOneTokenOutputsFinishAtOnce) {
  Step s("paged", spec(2, 10, 1, 2));
  const StepUpdate update = s.apply({7, 8});
  EXPECT_TRUE(update.fork_copies.empty());  // the child finished with its first token
  ASSERT_EQ(update.finished, (std::vector<SequenceGroup*>{&s.group}));
  EXPECT_EQ(s.group.status, GroupStatus::kFinished);
  for (const Sequence& q : s.group.seqs) EXPECT_TRUE(q.is_finished());
  EXPECT_TRUE(s.queues.running.empty());
  EXPECT_EQ(s.kv->free_slots(), s.kv->capacity_slots());  // everything released
  s.kv->audit();
}

TEST(StepUpdate, TheSimulatorsEmptyIdsAdvanceOnlyTheCounts) {
  Step s("paged", spec(3, 10, 2, 1));
  s.apply({});
  EXPECT_EQ(s.group.seqs[0].num_generated, 1);
  EXPECT_EQ(s.group.seqs[0].token_ids.size(), 10u);
}

TEST(StepUpdate, WrongNumberOfIdsIsAnInvariantError) {
  Step few("paged", spec(4, 10, 2, 3));
  EXPECT_THROW(few.apply({1, 2}), InvariantError);
  Step many("paged", spec(5, 10, 2, 1));
  EXPECT_THROW(many.apply({1, 2}), InvariantError);
}

}  // namespace
}  // namespace kvlab
