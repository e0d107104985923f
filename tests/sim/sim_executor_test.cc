// The simulator's Executor: registered as "sim", prices the plan with the
// cost model backend.cost_model names, returns no tokens, and reads nothing of the manager but
// its mapping counters (virtual_memory_stats).
#include "sim/sim_executor.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/cost_model.h"
#include "core/errors.h"
#include "core/executor.h"
#include "core/request.h"
#include "sim/roofline_cost_model.h"
#include "tests/sim/sim_test_config.h"

namespace kvlab {
namespace {

using testing::sim_config;

// The simulator must price the plan alone: any call into the manager is a test failure.
class UntouchableKvCacheManager : public KvCacheManager {
 public:
  std::string name() const override {
    touched("name");
    return "untouchable";
  }
  int64_t capacity_slots() const override {
    touched("capacity_slots");
    return 0;
  }
  int64_t host_capacity_slots() const override {
    touched("host_capacity_slots");
    return 0;
  }
  int64_t free_slots() const override {
    touched("free_slots");
    return 0;
  }
  AllocStatus can_admit(const SequenceGroup&) const override {
    touched("can_admit");
    return AllocStatus::kNever;
  }
  void admit(const SequenceGroup&) override { touched("admit"); }
  bool can_append(const SequenceGroup&) const override {
    touched("can_append");
    return false;
  }
  std::vector<KvCopy> append_slot(const Sequence&) override {
    touched("append_slot");
    return {};
  }
  std::vector<KvCopy> fork(const Sequence&, const Sequence&) override {
    touched("fork");
    return {};
  }
  void release(const Sequence&) override { touched("release"); }
  AllocStatus can_swap_out(const SequenceGroup&) const override {
    touched("can_swap_out");
    return AllocStatus::kNever;
  }
  std::vector<KvCopy> swap_out(const SequenceGroup&) override {
    touched("swap_out");
    return {};
  }
  AllocStatus can_swap_in(const SequenceGroup&) const override {
    touched("can_swap_in");
    return AllocStatus::kNever;
  }
  std::vector<KvCopy> swap_in(const SequenceGroup&) override {
    touched("swap_in");
    return {};
  }
  KvLayout layout(const Sequence&) const override {
    touched("layout");
    return {};
  }
  MemoryBreakdown breakdown(const SequenceGroup*) const override {
    touched("breakdown");
    return {};
  }
  void audit() const override { touched("audit"); }

 private:
  static void touched(const char* what) { ADD_FAILURE() << "SimExecutor called " << what; }
};

RequestSpec request(RequestId id, int32_t prompt_len) {
  RequestSpec spec;
  spec.id = id;
  spec.prompt_len = prompt_len;
  spec.output_len = 16;
  return spec;
}

// A mixed plan: one prompt chunk that finishes its prompt, two decodes, a swap-in, a
// copy-on-write and a fork copy.
struct MixedPlan {
  SequenceGroup prompt{request(1, 300)};
  SequenceGroup first{request(2, 100)};
  SequenceGroup second{request(3, 40)};
  SchedulerOutput plan;

  MixedPlan() {
    Sequence& p = prompt.seqs[0];
    p.num_computed = 256;
    plan.prefills.push_back(PrefillChunk{&p, 256, 44, true});
    Sequence& a = first.seqs[0];
    a.num_generated = 5;
    a.num_computed = 104;  // one pending token: it attends to 105 positions
    Sequence& b = second.seqs[0];
    b.num_generated = 1;
    b.num_computed = 40;
    plan.decodes = {&a, &b};
    plan.swap_in = {KvCopy{0, 512, 32}};
    plan.copies = {KvCopy{16, 64, 16}};
    plan.num_prefill_tokens = 44;
    plan.num_decode_tokens = 2;
  }
};

TEST(DescribeStep, ReadsThePlanBeforeTheEngineAppliesIt) {
  MixedPlan m;
  const StepShape shape = describe_step(m.plan);
  ASSERT_EQ(shape.prefills.size(), 1u);
  EXPECT_EQ(shape.prefills[0].start, 256);
  EXPECT_EQ(shape.prefills[0].num_tokens, 44);
  EXPECT_TRUE(shape.prefills[0].samples);
  EXPECT_EQ(shape.decode_context_lens, (std::vector<int64_t>{105, 41}));
  EXPECT_EQ(shape.num_tokens(), m.plan.num_batched_tokens());
  EXPECT_EQ(shape.num_sampled(), 3);
  EXPECT_EQ(shape.swap_in, m.plan.swap_in);
  EXPECT_TRUE(shape.swap_out.empty());
  // The plan's copy-on-write copies; fork copies are not in a plan (Executor::copy_within).
  EXPECT_EQ(shape.device_copies, (std::vector<KvCopy>{KvCopy{16, 64, 16}}));
}

TEST(SimExecutor, RegisteredAsSimAndPricesWithTheCostModel) {
  const ExperimentConfig config = sim_config("llama-2-13b", "a100-40gb", 2);
  ASSERT_TRUE(executors().contains("sim"));
  const std::unique_ptr<Executor> executor = executors().create("sim", config);
  EXPECT_EQ(executor->name(), "sim(roofline)");
  EXPECT_FALSE(executor->is_real());

  MixedPlan m;
  UntouchableKvCacheManager kv;
  const StepResult result = executor->execute(m.plan, kv);
  const StepCost expected = cost_models().create("roofline", config)->cost(describe_step(m.plan));
  EXPECT_EQ(result.duration_s, expected.seconds);
  EXPECT_TRUE(result.token_ids.empty());
  ASSERT_EQ(result.terms.size(), expected.terms.size());
  for (size_t i = 0; i < expected.terms.size(); ++i) {
    EXPECT_STREQ(result.terms[i].name, expected.terms[i].name);
    EXPECT_EQ(result.terms[i].seconds, expected.terms[i].seconds);
  }
  EXPECT_GT(result.duration_s, RooflineOptions::from_settings(config.raw).step_overhead_ms * 1e-3);
}

TEST(SimExecutor, PricesCopiesWithinTheArenaByTheCostModelsCopyTerm) {
  const ExperimentConfig config = sim_config("llama-2-13b", "a100-40gb", 2);
  const std::unique_ptr<Executor> executor = executors().create("sim", config);
  const auto model = cost_models().create("roofline", config);
  const std::vector<KvCopy> copies = {KvCopy{0, 128, 8}, KvCopy{8, 256, 24}};
  StepShape shape;
  shape.device_copies = copies;
  const double seconds = executor->copy_within(copies);
  EXPECT_GT(seconds, 0.0);
  EXPECT_EQ(seconds, model->copy_seconds(copies));
  EXPECT_EQ(seconds, model->cost(shape).term("copy"));  // the same term a step would carry
  EXPECT_EQ(executor->copy_within({}), 0.0);
}

TEST(SimExecutor, CostModelsAreNotBackEnds) {
  // One back end, "sim"; the cost model is a setting of it (backend.cost_model).
  EXPECT_TRUE(executors().contains("sim"));
  EXPECT_FALSE(executors().contains("sim:roofline"));
  EXPECT_TRUE(cost_models().contains("roofline"));
  const std::unique_ptr<Executor> executor = executors().create("sim", sim_config("llama-2-7b", "a100-80gb"));
  EXPECT_EQ(executor->name(), "sim(roofline)");
}

TEST(SimExecutor, SameStepSameDuration) {
  const ExperimentConfig config = sim_config("mistral-7b", "h100-sxm-80gb");
  const auto a = executors().create("sim", config);
  const auto b = executors().create("sim", config);
  MixedPlan m;
  UntouchableKvCacheManager kv;
  const double first = a->execute(m.plan, kv).duration_s;
  EXPECT_EQ(a->execute(m.plan, kv).duration_s, first);
  EXPECT_EQ(b->execute(m.plan, kv).duration_s, first);
}

TEST(SimExecutor, UnknownCostModelNamesTheKeyAndTheKnownOnes) {
  ExperimentConfig config = sim_config("llama-2-7b", "a100-80gb");
  config.backend.cost_model = "magic";
  try {
    executors().create("sim", config);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("field 'backend.cost_model': unknown cost model 'magic'"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("roofline"), std::string::npos) << message;
  }
  config.raw = Config::parse("[backend]\ncost_model = magic\n", "sweep.ini");
  try {
    SimExecutor::from_config(config);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sweep.ini:2: field 'backend.cost_model'"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace kvlab
