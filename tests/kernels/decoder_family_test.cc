// What every decoder family (LlamaModel, OptModel) must do, tested once for all families:
// dummy weights give varied tokens and O(1) logits, and a request's greedy tokens and first logits do not depend on the paged block size or the
// order of its blocks, on a contiguous layout, on how its prompt is chunked, on the other
// requests sharing its batches, or on a swap or recompute preemption in between. The
// reference is the request alone in a contiguous cache; logits agree to 1e-5 relative (Eigen's
// GEMM blocking depends on the step's token count, so not bitwise).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <memory>
#include <string>

#include "kernels/model/decoder_model.h"
#include "kernels/model/weight_source.h"
#include "tests/kernels/model_test_util.h"

namespace kvlab {
namespace {

using testing::GenerationResult;
using testing::GenerationRunner;
using testing::RunOptions;

constexpr int32_t kNewTokens = 12;
constexpr uint64_t kSeed = 2024;

struct Family {
  const char* name;
  ModelSpec (*spec)();
};

class DecoderFamily : public ::testing::TestWithParam<Family> {
 protected:
  // One model per family for the whole binary (building one draws its dummy weights).
  const DecoderModel& model() const {
    static std::map<std::string, std::unique_ptr<DecoderModel>> models;
    auto& m = models[GetParam().name];
    if (!m) m = make_decoder_model(GetParam().spec(), DummyWeightSource(kSeed));
    return *m;
  }

  GenerationResult run_a(RunOptions options, bool with_companions = false) const {
    return testing::run_a(model(), options, kNewTokens, with_companions);
  }

  const GenerationResult& reference() const {
    static std::map<std::string, GenerationResult> results;
    auto it = results.find(GetParam().name);
    if (it == results.end()) {
      it = results.emplace(GetParam().name, run_a(RunOptions{.block_size = 0})).first;
    }
    return it->second;
  }

  void expect_same_as_reference(const GenerationResult& r) const {
    EXPECT_EQ(r.tokens, reference().tokens);
    ASSERT_EQ(r.first_logits.cols(), reference().first_logits.cols());
    EXPECT_LT(testing::relative_diff(r.first_logits, reference().first_logits), 1e-5);
  }
};

TEST_P(DecoderFamily, DummyWeightsGiveVariedTokensAndO1Logits) {
  const GenerationResult& r = reference();
  ASSERT_EQ(r.tokens.size(), size_t(kNewTokens));
  EXPECT_GE(std::set<int32_t>(r.tokens.begin(), r.tokens.end()).size(), 3u);
  const float mean = r.first_logits.mean();
  const float sd = std::sqrt((r.first_logits.array() - mean).square().mean());
  EXPECT_GT(sd, 0.3f);
  EXPECT_LT(sd, 5.0f);
  // Another prompt continues differently.
  GenerationRunner runner(model(), RunOptions{});
  const int b = runner.add(testing::random_prompt(37, 256, 99), kNewTokens);
  runner.run();
  EXPECT_NE(runner.generated(b), r.tokens);
}

TEST_P(DecoderFamily, GreedyTokensIndependentOfPagedBlockSizeAndBlockOrder) {
  for (int32_t bs : {1, 16, 64}) {
    SCOPED_TRACE("block size " + std::to_string(bs));
    expect_same_as_reference(run_a(RunOptions{.block_size = bs, .shuffle = true}));
  }
  expect_same_as_reference(run_a(RunOptions{.block_size = 16, .shuffle = false}));
}

TEST_P(DecoderFamily, GreedyTokensIndependentOfPrefillChunking) {
  for (int32_t chunk : {1, 7, 64}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    expect_same_as_reference(run_a(RunOptions{.block_size = 16, .chunk = chunk}));
    expect_same_as_reference(run_a(RunOptions{.block_size = 0, .chunk = chunk}));
  }
}

TEST_P(DecoderFamily, GreedyTokensIndependentOfBatchComposition) {
  expect_same_as_reference(run_a(RunOptions{.block_size = 16}, true));
  expect_same_as_reference(run_a(RunOptions{.block_size = 1, .chunk = 7}, true));
  expect_same_as_reference(run_a(RunOptions{.block_size = 0, .chunk = 64}, true));
}

TEST_P(DecoderFamily, GreedyTokensSurviveSwapAndRecomputePreemption) {
  for (bool swap : {true, false}) {
    SCOPED_TRACE(swap ? "swap" : "recompute");
    for (int32_t bs : {0, 16}) {
      GenerationRunner runner(model(), RunOptions{.block_size = bs, .chunk = 7});
      runner.add(testing::random_prompt(9, 256, 5), 30);  // a companion sharing the batches
      const int a = runner.add(testing::prompt_a(), kNewTokens);
      runner.run_until(a, 5);
      if (swap) {
        runner.swap_out_and_in(a);
      } else {
        runner.recompute(a);
      }
      runner.run_until(a, kNewTokens);
      EXPECT_EQ(runner.generated(a), reference().tokens) << "block size " << bs;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, DecoderFamily,
                         ::testing::Values(Family{"tiny_llama", testing::tiny_llama_spec},
                                           Family{"tiny_opt", testing::tiny_opt_spec}),
                         [](const ::testing::TestParamInfo<Family>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace kvlab
