// The Engine loop with test doubles: a slot-counting manager, a minimal FCFS scheduler (whose
// update_from_output is the shared apply_step_result) and an executor with a fixed step time
// that emits token ids. Exercises what the Engine owns: arrivals and the clock, handing the
// step back to the scheduler (tokens, forks, finishing and releasing), running fork copies in
// the step that forks, recording, and refusing to hang.
#include "core/engine.h"

#include <gtest/gtest.h>

#include <map>

#include "core/errors.h"
#include "core/sampling_rows.h"
#include "policies/scheduling/step_update.h"

namespace kvlab {
namespace {

class CountingKv : public KvCacheManager {
 public:
  explicit CountingKv(int64_t capacity) : capacity_(capacity) {}
  std::string name() const override { return "counting"; }
  int64_t capacity_slots() const override { return capacity_; }
  int64_t host_capacity_slots() const override { return 0; }
  int64_t free_slots() const override { return capacity_ - used(); }
  AllocStatus can_admit(const SequenceGroup& g) const override {
    if (never_) return AllocStatus::kNever;
    if (later_) return AllocStatus::kLater;
    return g.spec.prompt_len <= free_slots() ? AllocStatus::kOk : AllocStatus::kLater;
  }
  void admit(const SequenceGroup& g) override {
    for (const Sequence& s : g.seqs) held_[s.id] = s.num_tokens();
  }
  bool can_append(const SequenceGroup& g) const override {
    return free_slots() >= g.num_unfinished();
  }
  std::vector<KvCopy> append_slot(const Sequence& s) override {
    held_[s.id] += 1;
    return {};
  }
  std::vector<KvCopy> fork(const Sequence& parent, const Sequence& child) override {
    held_[child.id] = held_[parent.id];
    ++forks;
    return {KvCopy{parent.id, child.id, held_[parent.id]}};
  }
  void release(const Sequence& s) override {
    held_.erase(s.id);
    ++releases;
  }
  AllocStatus can_swap_out(const SequenceGroup&) const override { return AllocStatus::kNever; }
  std::vector<KvCopy> swap_out(const SequenceGroup&) override { return {}; }
  AllocStatus can_swap_in(const SequenceGroup&) const override { return AllocStatus::kNever; }
  std::vector<KvCopy> swap_in(const SequenceGroup&) override { return {}; }
  KvLayout layout(const Sequence&) const override { return {}; }
  MemoryBreakdown breakdown(const SequenceGroup*) const override {
    MemoryBreakdown b;
    b.capacity = capacity_;
    b.token_states = used();
    b.free = capacity_ - used();
    return b;
  }
  void audit() const override { check_invariant(used() <= capacity_, "over capacity"); }

  int64_t used() const {
    int64_t u = 0;
    for (const auto& [id, n] : held_) u += n;
    return u;
  }
  int forks = 0;
  int releases = 0;
  bool later_ = false;
  bool never_ = false;

 private:
  int64_t capacity_;
  std::map<SeqId, int64_t> held_;
};

// FCFS prefill-first without preemption: enough to drive the loop.
class SimpleScheduler : public Scheduler {
 public:
  std::string name() const override { return "simple"; }
  SchedulerOutput schedule(SchedulerQueues& q, KvCacheManager& kv, double) override {
    SchedulerOutput out;
    while (!q.waiting.empty()) {
      SequenceGroup* g = q.waiting.front();
      const AllocStatus st = kv.can_admit(*g);
      if (st == AllocStatus::kNever) {
        q.waiting.pop_front();
        out.rejected.push_back({g, "never fits"});
        continue;
      }
      if (st != AllocStatus::kOk) break;
      q.waiting.pop_front();
      kv.admit(*g);
      g->status = GroupStatus::kRunning;
      for (Sequence& s : g->seqs) {
        s.status = SeqStatus::kRunning;
        out.prefills.push_back({&s, s.num_computed, s.num_pending(), true});
        out.num_prefill_tokens += s.num_pending();
      }
      q.running.push_back(g);
    }
    if (!out.prefills.empty()) return out;
    for (SequenceGroup* g : q.running) {
      for (Sequence& s : g->seqs) {
        if (s.is_finished()) continue;
        kv.append_slot(s);
        out.decodes.push_back(&s);
        out.num_decode_tokens += 1;
      }
    }
    return out;
  }
  StepUpdate update_from_output(const SchedulerOutput& plan, const StepResult& result,
                                SchedulerQueues& q, KvCacheManager& kv) override {
    return apply_step_result(plan, result, q, kv);
  }
};

// Fixed step time; token id = 1000 * sample index + position, so tests can check placement.
// Copies within the arena take kCopySeconds per KvCopy.
class FixedExecutor : public Executor {
 public:
  explicit FixedExecutor(double step_s) : step_s_(step_s) {}
  std::string name() const override { return "fixed"; }
  bool is_real() const override { return false; }
  StepResult execute(const SchedulerOutput& plan, const KvCacheManager&) override {
    StepResult r;
    r.duration_s = step_s_;
    r.terms = {{"overhead", step_s_}};
    for_each_draw(plan, [&](const TokenDraw& d) {
      r.token_ids.push_back(1000 * d.sample_index + d.seq->num_tokens());
    });
    ++steps;
    return r;
  }
  double copy_within(const std::vector<KvCopy>& copies) override {
    copied.push_back({steps, copies.size()});
    return kCopySeconds * static_cast<double>(copies.size());
  }
  static constexpr double kCopySeconds = 0.125;
  int steps = 0;
  std::vector<std::pair<int, size_t>> copied;  // (steps executed so far, copies) per call

 private:
  double step_s_;
};

RequestSpec request(RequestId id, double arrival, int prompt, int output, int n = 1) {
  RequestSpec r;
  r.id = id;
  r.arrival_s = arrival;
  r.prompt_len = prompt;
  r.output_len = output;
  r.n = n;
  r.prompt_tokens.assign(static_cast<size_t>(prompt), 7);
  return r;
}

struct Fixture {
  explicit Fixture(int64_t capacity = 1000, double step = 0.5) {
    auto kv_owned = std::make_unique<CountingKv>(capacity);
    kv = kv_owned.get();
    auto ex_owned = std::make_unique<FixedExecutor>(step);
    executor = ex_owned.get();
    engine = std::make_unique<Engine>(config, std::move(kv_owned), std::make_unique<SimpleScheduler>(),
                                      std::move(ex_owned));
    engine->set_audit_every_step(true);
  }
  ExperimentConfig config;
  CountingKv* kv;
  FixedExecutor* executor;
  std::unique_ptr<Engine> engine;
};

TEST(Engine, ClockJumpsToArrivalsAndAdvancesByStepTime) {
  Fixture f;
  f.engine->add_request(request(0, 3.0, 4, 3));
  ASSERT_TRUE(f.engine->step());  // jumps to t=3, prefills
  EXPECT_DOUBLE_EQ(f.engine->last_step().time_s, 3.0);
  EXPECT_DOUBLE_EQ(f.engine->now(), 3.5);
  EXPECT_EQ(f.engine->last_step().prefill_tokens, 4);
  ASSERT_TRUE(f.engine->step());
  ASSERT_TRUE(f.engine->step());  // third token: done
  EXPECT_FALSE(f.engine->step());
  const SequenceGroup* g = f.engine->group(0);
  EXPECT_TRUE(g->is_finished());
  EXPECT_DOUBLE_EQ(g->first_token_s, 3.5);
  EXPECT_DOUBLE_EQ(g->finish_s, 4.5);
  EXPECT_EQ(g->seqs[0].token_ids, (std::vector<int32_t>{7, 7, 7, 7, 4, 5, 6}));
  EXPECT_EQ(f.kv->releases, 1);
  EXPECT_EQ(f.kv->used(), 0);
}

TEST(Engine, RunProducesRecordsAndSummary) {
  Fixture f;
  const RunResult r = f.engine->run({request(0, 0, 4, 2), request(1, 0.2, 5, 3), request(2, 10, 3, 1)});
  ASSERT_EQ(r.requests.size(), 3u);
  for (const RequestRecord& q : r.requests) EXPECT_EQ(q.outcome, RequestOutcome::kFinished);
  EXPECT_EQ(r.requests[1].token_ids, (std::vector<std::vector<int32_t>>{{5, 6, 7}}));
  EXPECT_EQ(r.requests[2].generated_tokens, 1);
  EXPECT_DOUBLE_EQ(r.requests[2].first_token_s, 10.5);
  EXPECT_DOUBLE_EQ(r.summary.get("generated_tokens"), 6);
  EXPECT_DOUBLE_EQ(r.summary.get("num_finished"), 3);
  EXPECT_TRUE(r.has_token_ids);
  EXPECT_NE(r.output_digest, 0u);
  ASSERT_EQ(r.term_names, (std::vector<std::string>{"overhead"}));
  for (const StepRecord& s : r.steps) {
    EXPECT_EQ(s.memory.sum(), s.memory.capacity);
    EXPECT_DOUBLE_EQ(s.terms.at(0), 0.5);
  }
}

TEST(Engine, ForksSamplesWhenThePromptIsDone) {
  Fixture f;
  f.engine->add_request(request(0, 0, 4, 3, /*n=*/3));
  ASSERT_TRUE(f.engine->step());  // prefill, 3 first tokens, 2 forks and their copies
  const SequenceGroup* g = f.engine->group(0);
  ASSERT_EQ(g->seqs.size(), 3u);
  EXPECT_EQ(f.kv->forks, 2);
  EXPECT_EQ(g->seqs[1].token_ids.back(), 1004);
  EXPECT_EQ(g->seqs[2].token_ids.back(), 2004);
  EXPECT_EQ(g->seqs[2].num_computed, 4);
  // The copies ran in the forking step, right after it executed, and its record has them.
  ASSERT_EQ(f.executor->copied, (std::vector<std::pair<int, size_t>>{{1, 2}}));
  const StepRecord& forked = f.engine->last_step();
  const double copy_s = 2 * FixedExecutor::kCopySeconds;
  EXPECT_DOUBLE_EQ(forked.duration_s, 0.5 + copy_s);
  EXPECT_DOUBLE_EQ(f.engine->now(), 0.5 + copy_s);
  EXPECT_EQ(forked.copy_bytes, 2 * 4 * f.config.model.kv_bytes_per_slot());
  EXPECT_DOUBLE_EQ(g->first_token_s, 0.5 + copy_s);
  const RunResult so_far = f.engine->result(0);
  ASSERT_EQ(so_far.term_names, (std::vector<std::string>{"overhead", "fork_copy"}));
  EXPECT_DOUBLE_EQ(so_far.steps.back().terms.at(1), copy_s);
  ASSERT_TRUE(f.engine->step());  // the samples decode; nothing is copied any more
  EXPECT_EQ(f.executor->copied.size(), 1u);
  EXPECT_EQ(f.engine->last_step().copy_bytes, 0);
  EXPECT_EQ(f.engine->last_plan().decodes.size(), 3u);
  ASSERT_TRUE(f.engine->step());
  EXPECT_FALSE(f.engine->step());
  EXPECT_TRUE(g->is_finished());
  for (const Sequence& s : g->seqs) EXPECT_EQ(s.num_generated, 3);
  EXPECT_EQ(f.kv->releases, 3);
}

TEST(Engine, RecordsTheGapsBetweenEachSamplesTokens) {
  Fixture f;
  // t=0: request 0's prefill, first token at 0.5. t=0.5: request 1's prefill (decodes wait),
  // its two samples' first tokens, one fork copy: 0.625 s, to 1.125. t=1.125: every sample
  // decodes, to 1.625 (request 1 is done). t=1.625: request 0's last token at 2.125.
  const RunResult r = f.engine->run({request(0, 0, 4, 3), request(1, 0.2, 5, 2, /*n=*/2)});
  EXPECT_EQ(r.requests[0].itl_s, (std::vector<float>{1.125f, 0.5f}));
  EXPECT_EQ(r.requests[1].itl_s, (std::vector<float>{0.5f, 0.5f}));  // sample 0, then 1
  EXPECT_DOUBLE_EQ(r.summary.get("itl_mean_s"), 2.625 / 4);
  EXPECT_DOUBLE_EQ(r.summary.get("itl_p50_s"), 0.5);
  EXPECT_DOUBLE_EQ(r.summary.get("itl_p99_s"), 0.5 + 0.625 * 0.97);
}

TEST(Engine, SingleTokenOutputsFinishAtThePrefill) {
  Fixture f;
  f.engine->add_request(request(0, 0, 4, 1, 2));
  ASSERT_TRUE(f.engine->step());
  EXPECT_TRUE(f.engine->group(0)->is_finished());
  EXPECT_FALSE(f.engine->step());
}

TEST(Engine, RejectionsAreRecorded) {
  Fixture f;
  f.kv->never_ = true;
  const RunResult r = f.engine->run({request(0, 0, 4, 2)});
  ASSERT_EQ(r.requests.size(), 1u);
  EXPECT_EQ(r.requests[0].outcome, RequestOutcome::kRejected);
  EXPECT_EQ(r.requests[0].reject_reason, "never fits");
  EXPECT_DOUBLE_EQ(r.summary.get("num_rejected"), 1);
}

TEST(Engine, ThrowsInsteadOfHangingWhenNothingCanEverRun) {
  Fixture f;
  f.kv->later_ = true;  // a broken policy: LATER with an empty arena
  f.engine->add_request(request(0, 0, 4, 2));
  try {
    while (f.engine->step()) {
    }
    FAIL() << "expected a deadlock error";
  } catch (const InvariantError& e) {
    EXPECT_NE(std::string(e.what()).find("deadlock"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("later"), std::string::npos) << e.what();
  }
}

TEST(Engine, RequestsMustComeInArrivalOrder) {
  Fixture f;
  f.engine->add_request(request(0, 5, 4, 2));
  EXPECT_THROW(f.engine->add_request(request(1, 4, 4, 2)), InvariantError);
  EXPECT_THROW(f.engine->add_request(request(0, 6, 4, 2)), InvariantError);
}

}  // namespace
}  // namespace kvlab
