// The tiny Llama model over real KV layouts: a request's greedy tokens do not depend on its
// layout (paged block sizes 1, 16, 64 with shuffled blocks, or contiguous), on chunked
// prefill, on the other sequences of the batch, or on preemption (swap to other slots, or
// recompute). Also: dummy weights are deterministic and give varied tokens; bad input is
// refused.
#include "kernels/model/llama_model.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "core/errors.h"
#include "kernels/model/weight_source.h"
#include "tests/kernels/model_test_util.h"

namespace kvlab {
namespace {

using testing::GenerationRunner;
using testing::prompt_a;
using testing::random_prompt;
using testing::RunOptions;
using testing::tiny_llama_spec;


const LlamaModel& tiny_model() {
  static const LlamaModel model(tiny_llama_spec(), DummyWeightSource(2024));
  return model;
}

TEST(LlamaModel, DummyWeightsAreDeterministicPerSeedAndName) {
  const LlamaModel again(tiny_llama_spec(), DummyWeightSource(2024));
  const LlamaModel other(tiny_llama_spec(), DummyWeightSource(2025));
  EXPECT_EQ(again.weights().layers[1].qkv_proj, tiny_model().weights().layers[1].qkv_proj);
  EXPECT_EQ(again.weights().lm_head, tiny_model().weights().lm_head);
  EXPECT_NE(other.weights().lm_head, tiny_model().weights().lm_head);
  // Tensors are drawn independently per name: layer 0 and layer 1 differ.
  EXPECT_NE(tiny_model().weights().layers[0].o_proj, tiny_model().weights().layers[1].o_proj);
  // Scale: a projection's weights lie in +-sqrt(3 / in_features); norms near 1.
  const float a = std::sqrt(3.0f / 64.0f);
  EXPECT_LE(tiny_model().weights().layers[0].qkv_proj.cwiseAbs().maxCoeff(), a);
  EXPECT_GT(tiny_model().weights().layers[0].qkv_proj.cwiseAbs().maxCoeff(), 0.9f * a);
  EXPECT_LT((tiny_model().weights().final_norm.array() - 1.0f).abs().maxCoeff(), 0.1f);
}

TEST(LlamaModel, SeededSamplingIndependentOfLayoutBatchAndPreemption) {
  // Random sampling draws from (seed, sample index, position): the same request samples the
  // same tokens whatever shares its batches, its layout, or a preemption in between.
  cpu::SamplingParams sampling;
  sampling.temperature = 0.8f;
  sampling.top_k = 50;
  sampling.top_p = 0.9f;
  sampling.repetition_penalty = 1.1f;
  sampling.seed = 77;
  auto run = [&](RunOptions options, bool companions, bool preempt) {
    options.sampling = sampling;
    GenerationRunner runner(tiny_model(), options);
    if (companions) runner.add(random_prompt(11, 256, 8), 25);
    const int a = runner.add(prompt_a(), 20);
    runner.run_until(a, 8);
    if (preempt) runner.recompute(a);
    runner.run_until(a, 20);
    return runner.generated(a);
  };
  const std::vector<int32_t> alone = run(RunOptions{.block_size = 0}, false, false);
  EXPECT_EQ(run(RunOptions{.block_size = 16, .chunk = 7}, true, false), alone);
  EXPECT_EQ(run(RunOptions{.block_size = 1}, true, true), alone);
  // And it is not greedy decoding in disguise.
  GenerationRunner greedy(tiny_model(), RunOptions{});
  const int a = greedy.add(prompt_a(), 20);
  greedy.run();
  EXPECT_NE(greedy.generated(a), alone);
}

TEST(LlamaModel, ReturnsOneRowPerSamplingEntryInBatchOrder) {
  const LlamaModel& model = tiny_model();
  testing::LayoutAllocator alloc = testing::LayoutAllocator::paged(16, 1024, true);
  cpu::CpuKvCache cache = model.make_kv_cache(1024);
  const std::vector<int32_t> p1 = random_prompt(10, 256, 11), p2 = random_prompt(4, 256, 12);
  ForwardEntry first{p1, 0, alloc.allocate(16), true};
  ForwardEntry silent{p2, 0, alloc.allocate(16), false};
  ForwardEntry third{{7}, 0, alloc.allocate(16), true};  // a 1-token prompt: decode path
  const cpu::RowMatrix both = model.forward(std::vector<ForwardEntry>{first, silent, third}, cache);
  ASSERT_EQ(both.rows(), 2);
  ASSERT_EQ(both.cols(), 256);
  // Each alone, in a fresh cache, gives its row.
  cpu::CpuKvCache fresh = model.make_kv_cache(1024);
  const cpu::RowMatrix one = model.forward(std::vector<ForwardEntry>{first}, fresh);
  const cpu::RowMatrix three = model.forward(std::vector<ForwardEntry>{third}, fresh);
  EXPECT_LT((both.row(0) - one.row(0)).cwiseAbs().maxCoeff(), 1e-4f);
  EXPECT_LT((both.row(1) - three.row(0)).cwiseAbs().maxCoeff(), 1e-4f);
  EXPECT_EQ(model.forward(std::vector<ForwardEntry>{}, fresh).rows(), 0);
}

TEST(LlamaModel, RunsOtherLlamaShapes) {
  // MHA (kv heads == heads), MQA (one kv head), hidden != heads * head_dim, other theta.
  const std::vector<std::tuple<int, int, int>> shapes = {{4, 4, 64}, {8, 1, 48}, {2, 2, 40}};
  for (const auto& [heads, kv_heads, hidden] : shapes) {
    ModelSpec spec = tiny_llama_spec();
    spec.num_heads = heads;
    spec.num_kv_heads = kv_heads;
    spec.hidden_size = hidden;
    spec.rope_theta = 500000.0;
    const LlamaModel model(spec, DummyWeightSource(3));
    GenerationRunner paged(model, RunOptions{.block_size = 16, .chunk = 5});
    GenerationRunner contiguous(model, RunOptions{.block_size = 0});
    const int a = paged.add(random_prompt(13, 256, 4), 6);
    const int b = contiguous.add(random_prompt(13, 256, 4), 6);
    paged.run();
    contiguous.run();
    EXPECT_EQ(paged.generated(a), contiguous.generated(b)) << heads << "/" << kv_heads;
    EXPECT_TRUE(paged.first_logits(a).allFinite());
  }
}

TEST(LlamaModel, RefusesBadInput) {
  const LlamaModel& model = tiny_model();
  testing::LayoutAllocator alloc = testing::LayoutAllocator::contiguous(256);
  cpu::CpuKvCache cache = model.make_kv_cache(256);
  ForwardEntry bad_token{{3, 256}, 0, alloc.allocate(8), true};
  EXPECT_THROW(model.forward(std::vector<ForwardEntry>{bad_token}, cache), InputError);
  ForwardEntry too_long{random_prompt(9, 256, 1), 0, alloc.allocate(8), true};
  EXPECT_THROW(model.forward(std::vector<ForwardEntry>{too_long}, cache), InvariantError);
  cpu::CpuKvCache wrong_shape(1, 256, 2, 16);
  ForwardEntry fine{{3}, 0, alloc.allocate(8), true};
  EXPECT_THROW(model.forward(std::vector<ForwardEntry>{fine}, wrong_shape), InvariantError);

  auto expect_field = [](ModelSpec spec, const char* field) {
    try {
      LlamaModel m(spec, DummyWeightSource(1));
      ADD_FAILURE() << "no error for " << field;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  ModelSpec spec = tiny_llama_spec();
  spec.family = "opt";
  expect_field(spec, "model.family");
  spec = tiny_llama_spec();
  spec.num_kv_heads = 3;
  expect_field(spec, "model.num_kv_heads");
  spec = tiny_llama_spec();
  spec.head_dim = 15;
  expect_field(spec, "model.head_dim");
  spec = tiny_llama_spec();
  spec.vocab_size = 0;
  expect_field(spec, "model.vocab_size");
}

}  // namespace
}  // namespace kvlab
