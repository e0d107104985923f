// One owner of the manager per step (core/scheduler.h): within a step only the Scheduler
// mutates the KvCacheManager, in schedule() and update_from_output(); the Engine and the
// Executor only read it. A guard wraps the real manager and counts every mutating call; a
// wrapping scheduler opens the guard only while its schedule() or update_from_output() runs.
// Every batching policy over both managers, with parallel samples (forks), memory pressure
// (preemption by recompute and swap) and finishing requests (releases): no call outside.
#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>

#include "app/experiment_runner.h"
#include "core/config.h"
#include "core/engine.h"

namespace kvlab {
namespace {

struct Calls {
  bool open = false;    // inside the scheduler's schedule() or update_from_output()
  int64_t inside = 0;   // mutating calls made while open
  int64_t outside = 0;  // mutating calls made by anyone else
  int64_t forks = 0;
  int64_t releases = 0;
  void count() { ++(open ? inside : outside); }
};

class GuardedKv : public KvCacheManager {
 public:
  GuardedKv(std::unique_ptr<KvCacheManager> inner, Calls* calls)
      : inner_(std::move(inner)), calls_(calls) {}
  std::string name() const override { return inner_->name(); }
  int64_t capacity_slots() const override { return inner_->capacity_slots(); }
  int64_t host_capacity_slots() const override { return inner_->host_capacity_slots(); }
  int64_t free_slots() const override { return inner_->free_slots(); }
  AllocStatus can_admit(const SequenceGroup& g) const override { return inner_->can_admit(g); }
  void admit(const SequenceGroup& g) override {
    calls_->count();
    inner_->admit(g);
  }
  bool can_append(const SequenceGroup& g) const override { return inner_->can_append(g); }
  std::vector<KvCopy> append_slot(const Sequence& s) override {
    calls_->count();
    return inner_->append_slot(s);
  }
  std::vector<KvCopy> fork(const Sequence& parent, const Sequence& child) override {
    calls_->count();
    ++calls_->forks;
    return inner_->fork(parent, child);
  }
  void release(const Sequence& s) override {
    calls_->count();
    ++calls_->releases;
    inner_->release(s);
  }
  AllocStatus can_swap_out(const SequenceGroup& g) const override {
    return inner_->can_swap_out(g);
  }
  std::vector<KvCopy> swap_out(const SequenceGroup& g) override {
    calls_->count();
    return inner_->swap_out(g);
  }
  AllocStatus can_swap_in(const SequenceGroup& g) const override { return inner_->can_swap_in(g); }
  std::vector<KvCopy> swap_in(const SequenceGroup& g) override {
    calls_->count();
    return inner_->swap_in(g);
  }
  KvLayout layout(const Sequence& s) const override { return inner_->layout(s); }
  MemoryBreakdown breakdown(const SequenceGroup* head) const override {
    return inner_->breakdown(head);
  }
  void audit() const override { inner_->audit(); }

 private:
  std::unique_ptr<KvCacheManager> inner_;
  Calls* calls_;
};

class GuardedScheduler : public Scheduler {
 public:
  GuardedScheduler(std::unique_ptr<Scheduler> inner, Calls* calls)
      : inner_(std::move(inner)), calls_(calls) {}
  std::string name() const override { return inner_->name(); }
  SchedulerOutput schedule(SchedulerQueues& q, KvCacheManager& kv, double now_s) override {
    Open open(calls_);
    return inner_->schedule(q, kv, now_s);
  }
  StepUpdate update_from_output(const SchedulerOutput& plan, const StepResult& result,
                                SchedulerQueues& q, KvCacheManager& kv) override {
    Open open(calls_);
    return inner_->update_from_output(plan, result, q, kv);
  }

 private:
  struct Open {
    explicit Open(Calls* c) : calls(c) { calls->open = true; }
    ~Open() { calls->open = false; }
    Calls* calls;
  };
  std::unique_ptr<Scheduler> inner_;
  Calls* calls_;
};

struct Case {
  const char* name;
  const char* config;
  bool expect_preemption;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class EngineOwnership : public ::testing::TestWithParam<Case> {};

TEST_P(EngineOwnership, OnlyTheSchedulerMutatesTheManager) {
  const Config config = Config::parse(
      "[workload]\nnum_requests = 24\narrival = burst\nprompt_len = uniform:8:90\n"
      "output_len = uniform:8:70\nn = 2\nseed = 5\n"
      "[model]\nname = tiny-llama\nmax_seq_len = 256\n"
      "[hardware]\nname = a10g\n"
      "[memory]\nswap_space_gb = 0.002\n" +
          std::string(GetParam().config),
      "engine_ownership_test.ini");
  const std::vector<PreparedPoint> points = prepare_experiment(config, Shard{});
  ASSERT_EQ(points.size(), 1u);
  const ExperimentConfig& c = points[0].config;

  Calls calls;
  Engine engine(
      c, std::make_unique<GuardedKv>(memory_policies().create(c.memory.policy, c.memory), &calls),
      std::make_unique<GuardedScheduler>(schedulers().create(c.scheduler.batching, c.scheduler),
                                         &calls),
      executors().create(c.backend.kind, c));
  engine.set_audit_every_step(true);
  const RunResult r = engine.run(requests_for_backend(c, points[0].workload->requests));

  EXPECT_EQ(calls.outside, 0);
  EXPECT_GT(calls.inside, 0);
  EXPECT_GT(calls.forks, 0);
  EXPECT_GT(calls.releases, 0);
  EXPECT_EQ(r.summary.get("num_finished"), 24);
  if (GetParam().expect_preemption) {
    EXPECT_GT(r.summary.get("num_preemptions"), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Policies, EngineOwnership,
    ::testing::Values(
        Case{"paged_continuous_swap",
             "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 600\n"
             "[scheduler]\npreemption = swap\n[backend]\nkind = sim\n",
             true},
        Case{"paged_chunked_recompute",
             "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 600\n"
             "[scheduler]\nchunk_size = 32\nmax_batched_tokens = 96\nmax_num_seqs = 16\n"
             "preemption = recompute\n"
             "[backend]\nkind = sim\n",
             true},
        Case{"paged_static_auto",
             "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 600\n"
             "[scheduler]\nbatching = static\npreemption = auto\n[backend]\nkind = sim\n",
             true},
        Case{"contiguous_continuous",
             "[memory]\npolicy = contiguous\nreservation = oracle\ncapacity_slots = 2048\n"
             "[backend]\nkind = sim\n",
             false},
        Case{"contiguous_static",
             "[memory]\npolicy = contiguous\nreservation = pow2\ncapacity_slots = 2048\n"
             "[scheduler]\nbatching = static\n[backend]\nkind = sim\n",
             false},
        Case{"contiguous_cpu",
             "[memory]\npolicy = contiguous\nreservation = max\ncapacity_slots = 4096\n"
             "[backend]\nkind = cpu\n",
             false}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kvlab
