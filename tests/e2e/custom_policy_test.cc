// What adding a policy takes: one folder (here, the top of this file) and one test (the rest).
//
// This file is the recipe to copy. Nothing in core/ or app/ knows the two policies below:
//  1. a memory policy, "held-back": the paged manager on all but memory.held_back_slots of
//     the arena (a share kept back, e.g. for activations), with its key declared in its
//     registry entry next to its traits (table label, swap granularity);
//  2. a scheduler, "running-cap": continuous batching with at most
//     scheduler.max_running_groups groups running or swapped out at once;
//  3. both registered on the process-wide registries after register_builtins() (which the
//     test main calls), which also declares their keys: `kvlab list keys` lists them, Config
//     checks them, `--set` and [sweep] take them. The tests then run whole experiments.
//
// A policy reads its own keys from the settings it is created with
// (`config.settings.get_int("memory.held_back_slots")`); the getters check the value against
// the declaration, and Config::fail names the key and where its value came from.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <string>

#include "app/experiment_runner.h"
#include "core/config_keys.h"
#include "core/errors.h"
#include "core/kv_cache_manager.h"
#include "core/scheduler.h"

namespace kvlab {
namespace {

// ---- 1. The memory policy ------------------------------------------------------------------

// The first capacity_slots - held_back slots of the arena are managed by a "paged" manager
// created from the registry; the last held_back slots are never handed out. capacity_slots()
// is what is usable, so the breakdown (the paged one) sums to it and kv_capacity_slots shows
// the smaller cache.
class HeldBackKvCacheManager final : public KvCacheManager {
 public:
  explicit HeldBackKvCacheManager(const MemoryConfig& config)
      : held_back_(config.settings.get_int("memory.held_back_slots")),
        arena_(config.capacity_slots) {
    if (held_back_ >= arena_) {  // a relation between keys: the declaration cannot check it
      config.settings.fail("memory.held_back_slots",
                           "must leave room for a KV cache: " + std::to_string(held_back_) +
                               " of " + std::to_string(arena_) + " slots");
    }
    MemoryConfig inner = config;  // the paged keys (block_size, watermark) come along
    inner.policy = "paged";
    inner.capacity_slots = arena_ - held_back_;
    paged_ = memory_policies().create("paged", inner);
  }

  std::string name() const override {
    return "held-back(" + std::to_string(held_back_) + ", " + paged_->name() + ")";
  }
  int64_t capacity_slots() const override { return paged_->capacity_slots(); }
  int64_t host_capacity_slots() const override { return paged_->host_capacity_slots(); }
  int64_t free_slots() const override { return paged_->free_slots(); }
  AllocStatus can_admit(const SequenceGroup& g) const override { return paged_->can_admit(g); }
  void admit(const SequenceGroup& g) override { paged_->admit(g); }
  bool can_append(const SequenceGroup& g) const override { return paged_->can_append(g); }
  std::vector<KvCopy> append_slot(const Sequence& s) override { return paged_->append_slot(s); }
  std::vector<KvCopy> fork(const Sequence& parent, const Sequence& child) override {
    return paged_->fork(parent, child);
  }
  void release(const Sequence& s) override { paged_->release(s); }
  AllocStatus can_swap_out(const SequenceGroup& g) const override {
    return paged_->can_swap_out(g);
  }
  std::vector<KvCopy> swap_out(const SequenceGroup& g) override { return paged_->swap_out(g); }
  AllocStatus can_swap_in(const SequenceGroup& g) const override { return paged_->can_swap_in(g); }
  std::vector<KvCopy> swap_in(const SequenceGroup& g) override { return paged_->swap_in(g); }
  KvLayout layout(const Sequence& s) const override { return paged_->layout(s); }
  MemoryBreakdown breakdown(const SequenceGroup* head) const override {
    return paged_->breakdown(head);
  }
  void audit() const override {
    paged_->audit();
    check_invariant(paged_->capacity_slots() + held_back_ <= arena_,
                    "held-back: the paged arena overlaps the held-back slots");
    const MemoryBreakdown b = breakdown(nullptr);
    check_invariant(b.capacity == capacity_slots() && b.sum() == b.capacity,
                    "held-back: breakdown does not sum to capacity");
  }

 private:
  int64_t held_back_;
  int64_t arena_;
  std::unique_ptr<KvCacheManager> paged_;
};

void register_held_back(MemoryPolicyRegistry& registry) {
  const MemoryPolicyRegistry::Entry& paged = registry.entry("paged");
  std::vector<KeySpec> keys = {int_key("memory.held_back_slots", 0, 0, int64_t{1} << 40,
                                       "held-back: arena slots never handed out")};
  keys.insert(keys.end(), paged.keys.begin(), paged.keys.end());  // it reads paged's keys too
  registry.add({
      .name = "held-back",
      .factory = [](const MemoryConfig& c) { return std::make_unique<HeldBackKvCacheManager>(c); },
      .description = "paged, with memory.held_back_slots of the arena kept back",
      .keys = keys,
      .traits = {.label =
                     [label = paged.traits.label](const MemoryConfig& c) {
                       return "held-back(" + c.settings.get_string("memory.held_back_slots") +
                              ", " + label(c) + ")";
                     },
                 .swap_unit_slots = paged.traits.swap_unit_slots},  // swaps move paged blocks
  });
}

// ---- 2. The scheduler ----------------------------------------------------------------------

// Continuous batching (the registered "continuous" scheduler) that admits from `waiting` only
// while fewer than max_running_groups groups are running or swapped out: the waiting groups
// past the room left are hidden from it for the step, then put back in order.
class RunningCapScheduler final : public Scheduler {
 public:
  explicit RunningCapScheduler(const SchedulerConfig& config)
      : cap_(static_cast<size_t>(config.settings.get_int("scheduler.max_running_groups"))) {
    SchedulerConfig inner = config;
    inner.batching = "continuous";
    continuous_ = schedulers().create("continuous", inner);
  }

  std::string name() const override {
    return "running-cap(" + std::to_string(cap_) + ", " + continuous_->name() + ")";
  }

  SchedulerOutput schedule(SchedulerQueues& queues, KvCacheManager& kv, double now_s) override {
    const size_t active = queues.running.size() + queues.swapped.size();
    const size_t room = active >= cap_ ? 0 : cap_ - active;
    std::deque<SequenceGroup*> hidden;
    while (queues.waiting.size() > room) {
      hidden.push_front(queues.waiting.back());
      queues.waiting.pop_back();
    }
    SchedulerOutput output = continuous_->schedule(queues, kv, now_s);
    // Recompute victims went to the front; the hidden groups were the tail.
    queues.waiting.insert(queues.waiting.end(), hidden.begin(), hidden.end());
    return output;
  }

  StepUpdate update_from_output(const SchedulerOutput& plan, const StepResult& result,
                                SchedulerQueues& queues, KvCacheManager& kv) override {
    return continuous_->update_from_output(plan, result, queues, kv);
  }

 private:
  size_t cap_;
  std::unique_ptr<Scheduler> continuous_;
};

void register_running_cap(SchedulerRegistry& registry) {
  std::vector<KeySpec> keys = {int_key("scheduler.max_running_groups", 8, 1, 1 << 20,
                                       "running-cap: groups running or swapped out at most")};
  const std::vector<KeySpec>& continuous = registry.entry("continuous").keys;
  keys.insert(keys.end(), continuous.begin(), continuous.end());
  registry.add(
      {.name = "running-cap",
       .factory = [](const SchedulerConfig& c) { return std::make_unique<RunningCapScheduler>(c); },
       .description = "continuous, at most scheduler.max_running_groups groups at once",
       .keys = keys});
}

// ---- 3. Registration and the tests ---------------------------------------------------------

class CustomPolicyTest : public ::testing::Test {
 protected:
  // Once per process, after register_builtins() (tests/test_main.cc).
  static void SetUpTestSuite() {
    static const bool registered = [] {
      register_held_back(memory_policies());
      register_running_cap(schedulers());
      return true;
    }();
    (void)registered;
  }

  // A small synthetic experiment on both new policies, with `overrides` as `--set` would give.
  static Config experiment(const std::vector<std::string>& overrides) {
    Config c = Config::parse(
        "[workload]\nnum_requests = 200\narrival = poisson\nrate = 20\n"
        "prompt_len = uniform:16:256\noutput_len = uniform:16:256\nseed = 3\n"
        "[model]\nname = llama-2-7b\n[hardware]\nname = a100-40gb\n"
        "[memory]\ncapacity_slots = 4096\n",
        "custom.ini");
    for (const char* o : {"memory.policy=held-back", "memory.held_back_slots=1024",
                          "scheduler.batching=running-cap", "scheduler.max_running_groups=4"}) {
      c.set_override(o);
    }
    for (const std::string& o : overrides) c.set_override(o);
    return c;
  }

  static std::vector<RunResult> run(const Config& c) {
    RunOptions options;
    options.jobs = 1;
    options.audit_every_step = true;  // held-back audit()s its paged arena after every step
    return run_experiment(c, options);
  }

  // The InputError prepare_experiment throws for `c` (fails the test when none).
  static InputError rejection(const Config& c) {
    try {
      prepare_experiment(c, Shard{});
    } catch (const InputError& e) {
      return e;
    }
    ADD_FAILURE() << "prepare_experiment accepted the config";
    return InputError("none");
  }
  static bool mentions(const InputError& e, const std::string& text) {
    return std::string(e.what()).find(text) != std::string::npos;
  }
};

TEST_F(CustomPolicyTest, KeysAndTraitsAreDeclared) {
  ASSERT_NE(config_keys().find("memory.held_back_slots"), nullptr);
  EXPECT_EQ(config_keys().owners("memory.held_back_slots"),
            std::vector<std::string>{"memory policy 'held-back'"});
  ASSERT_NE(config_keys().find("scheduler.max_running_groups"), nullptr);
  EXPECT_EQ(config_keys().owners("scheduler.max_running_groups"),
            std::vector<std::string>{"scheduler (batching) 'running-cap'"});
  // Keys read through the wrapped policies are declared by both owners, alike.
  const auto& block_owners = config_keys().owners("memory.block_size");
  EXPECT_NE(std::find(block_owners.begin(), block_owners.end(), "memory policy 'held-back'"),
            block_owners.end());
  // The names are choices of memory.policy and scheduler.batching (`kvlab list`).
  EXPECT_EQ(config_keys().find("memory.policy")->check("held-back"), "");
  EXPECT_EQ(config_keys().find("scheduler.batching")->check("running-cap"), "");
  // The traits answer without creating a manager (tables, cost models).
  const MemoryConfig memory = resolve_experiment(experiment({})).memory;
  const MemoryPolicyTraits& traits = memory_policies().entry("held-back").traits;
  EXPECT_EQ(traits.label(memory), "held-back(1024, paged(block 16))");
  EXPECT_EQ(traits.swap_unit_slots(memory), 16);
}

TEST_F(CustomPolicyTest, RunsAnExperimentAndItsKeysTakeEffect) {
  const std::vector<RunResult> results = run(experiment({}));
  ASSERT_EQ(results.size(), 1u);
  const RunResult& r = results.front();
  EXPECT_EQ(r.summary.get("num_finished"), 200);
  EXPECT_EQ(r.summary.get("num_rejected"), 0);
  EXPECT_EQ(r.config.at("memory.held_back_slots"), "1024");
  // memory.held_back_slots: the cache is 1024 slots smaller, and every breakdown sums to it.
  EXPECT_EQ(r.summary.get("kv_capacity_slots"), 4096 - 1024);
  // scheduler.max_running_groups: never more than 4 groups running (n = 1: 4 sequences a
  // step), and the cap binds under this load.
  int32_t most_active = 0, most_running = 0, largest_batch = 0, bad_breakdowns = 0;
  for (const StepRecord& s : r.steps) {
    bad_breakdowns += s.memory.capacity != 3072 || s.memory.sum() != s.memory.capacity;
    most_active = std::max(most_active, s.num_running + s.num_swapped);
    most_running = std::max(most_running, s.num_running);
    largest_batch = std::max(largest_batch, s.batch_size);
  }
  EXPECT_EQ(bad_breakdowns, 0);
  EXPECT_LE(most_active, 4);
  EXPECT_EQ(most_running, 4);
  EXPECT_LE(largest_batch, 4);
  EXPECT_LE(r.summary.get("mean_batch_size"), 4.0);

  // Without the cap, continuous batching runs more at once.
  const RunResult uncapped = run(experiment({"scheduler.max_running_groups=1000"})).front();
  int32_t most_uncapped = 0;
  for (const StepRecord& s : uncapped.steps) most_uncapped = std::max(most_uncapped, s.num_running);
  EXPECT_GT(most_uncapped, 4);
}

TEST_F(CustomPolicyTest, HoldingBackIsPagedOnASmallerArena) {
  // The wrapper adds nothing but the smaller arena: step for step, the run is the one paged
  // gives on 3072 slots, under enough pressure to swap out and back in (no cap).
  const std::vector<std::string> pressure = {"scheduler.max_running_groups=1000",
                                             "scheduler.preemption=swap"};
  const RunResult held = run(experiment(pressure)).front();
  std::vector<std::string> as_paged = pressure;
  as_paged.insert(as_paged.end(), {"memory.policy=paged", "memory.capacity_slots=3072"});
  const RunResult paged = run(experiment(as_paged)).front();
  EXPECT_EQ(held.summary.get("num_finished"), 200);
  EXPECT_GT(held.summary.get("num_preemptions"), 0);
  int64_t swapped_in = 0;
  for (const StepRecord& s : held.steps) swapped_in += s.swap_in_bytes;
  EXPECT_GT(swapped_in, 0);
  ASSERT_EQ(held.steps.size(), paged.steps.size());
  for (size_t i = 0; i < held.steps.size(); ++i) {
    ASSERT_EQ(held.steps[i].memory, paged.steps[i].memory) << "step " << i;
    ASSERT_EQ(held.steps[i].batch_size, paged.steps[i].batch_size) << "step " << i;
  }
  EXPECT_EQ(held.summary.get("duration_s"), paged.summary.get("duration_s"));
}

TEST_F(CustomPolicyTest, SweepsOverItsKey) {
  const std::vector<RunResult> results = run(experiment({"sweep.memory.held_back_slots=0,1024"}));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].label, "memory.held_back_slots=0");
  EXPECT_EQ(results[1].label, "memory.held_back_slots=1024");
  EXPECT_EQ(results[0].summary.get("kv_capacity_slots"), 4096);
  EXPECT_EQ(results[1].summary.get("kv_capacity_slots"), 3072);
  for (const RunResult& r : results) EXPECT_EQ(r.summary.get("num_finished"), 200);
}

TEST_F(CustomPolicyTest, BadValuesOfItsKeysNameTheKeyAndWhereTheyCameFrom) {
  for (const char* bad : {"memory.held_back_slots=-16", "memory.held_back_slots=many",
                          "scheduler.max_running_groups=0"}) {
    const InputError e = rejection(experiment({bad}));
    const std::string key = std::string(bad).substr(0, std::string(bad).find('='));
    EXPECT_EQ(e.field(), key) << e.what();
    EXPECT_EQ(e.source(), "--set") << e.what();
    EXPECT_TRUE(mentions(e, key) && mentions(e, "--set")) << e.what();
  }
  // An integer key's bounds are shown exactly.
  const InputError cap = rejection(experiment({"scheduler.max_running_groups=0"}));
  EXPECT_TRUE(mentions(cap, "in [1, 1048576], got 0")) << cap.what();
  // In range, but too much for this arena: the factory says so, before anything runs.
  const InputError e = rejection(experiment({"memory.held_back_slots=4096"}));
  EXPECT_EQ(e.field(), "memory.held_back_slots") << e.what();
  EXPECT_TRUE(mentions(e, "must leave room")) << e.what();
}

TEST_F(CustomPolicyTest, MisspelledNamesSuggestTheNewPolicies) {
  const InputError memory = rejection(experiment({"memory.policy=held-bak"}));
  EXPECT_TRUE(mentions(memory, "did you mean 'held-back'")) << memory.what();
  const InputError batching = rejection(experiment({"scheduler.batching=running-cpa"}));
  EXPECT_TRUE(mentions(batching, "did you mean 'running-cap'")) << batching.what();
}

}  // namespace
}  // namespace kvlab
