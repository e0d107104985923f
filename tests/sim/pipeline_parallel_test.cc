// Pipeline parallelism: the roofline's steady-state pipeline (docs/parallelism.md) against
// hand-computed stage times, bubbles and activation hops (within a node and over the network);
// the KV capacity per stage; the layer split; and the errors naming model.pipeline_parallel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "app/resolve_experiment.h"
#include "core/cost_model.h"
#include "core/errors.h"
#include "core/pipeline_stages.h"
#include "sim/roofline_cost_model.h"
#include "tests/sim/sim_test_config.h"

namespace kvlab {
namespace {

using testing::input_error;

using testing::sim_config;

// llama-2-7b on a100-80gb at the default efficiencies (0.7 compute, 0.8 bandwidth).
constexpr double kBytes = 2039e9 * 0.8;
constexpr double kLayerWeights = 4096.0 * 4096 * 4 + 3.0 * 4096 * 11008;
constexpr double kLmHead = 4096.0 * 32000;
constexpr double kKvPerTokenPerLayer = 2.0 * 32 * 128 * 2;
constexpr double kNvlinkHop = 1e-6;  // GPU -> NVSwitch -> GPU

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

ExperimentConfig pipelined(const std::string& model, const std::string& hardware, int32_t tp,
                           int32_t pp, int64_t microbatches = 0) {
  ExperimentConfig config = sim_config(model, hardware, tp);
  config.pipeline_parallel = pp;
  if (microbatches > 0) {
    config.raw.set("model.pipeline_microbatches", std::to_string(microbatches));
  }
  return config;
}

StepCost cost(const ExperimentConfig& config, const StepShape& step) {
  return cost_models().create("roofline", config)->cost(step);
}

StepShape decodes(int n, int64_t context) {
  StepShape s;
  s.decode_context_lens.assign(static_cast<size_t>(n), context);
  return s;
}

// `n` prompts of `tokens` each, none sampling (so no LM head: equal stages).
StepShape prefills(int n, int64_t tokens) {
  StepShape s;
  for (int i = 0; i < n; ++i) s.prefills.push_back({0, tokens, false});
  return s;
}

TEST(PipelineStages, EvenSplitAndTheFirstStagesTakeTheRemainder) {
  EXPECT_EQ(pipeline_stage_layers(32, 1), (std::vector<int32_t>{32}));
  EXPECT_EQ(pipeline_stage_layers(32, 4), (std::vector<int32_t>{8, 8, 8, 8}));
  EXPECT_EQ(pipeline_stage_layers(32, 3), (std::vector<int32_t>{11, 11, 10}));
  EXPECT_EQ(pipeline_stage_layers(80, 6), (std::vector<int32_t>{14, 14, 13, 13, 13, 13}));
  EXPECT_EQ(max_stage_layers(80, 6), 14);
  EXPECT_EQ(pipeline_stage_layers(3, 3), (std::vector<int32_t>{1, 1, 1}));
}

TEST(PipelineParallel, OneStageAddsNoTerms) {
  const StepCost c = cost(pipelined("llama-2-7b", "a100-80gb", 1, 1), decodes(8, 100));
  const StepCost base = cost(sim_config("llama-2-7b", "a100-80gb"), decodes(8, 100));
  EXPECT_EQ(c.seconds, base.seconds);
  ASSERT_EQ(c.terms.size(), 6u);
  for (const CostTerm& t : c.terms)
    EXPECT_EQ(std::string(t.name).rfind("pipeline", 0), std::string::npos);
}

TEST(PipelineParallel, OneSequenceCannotFillThePipeline) {
  // One decode is one micro-batch: it crosses both stages in turn, so the step is the
  // single-GPU step plus one activation hop (2 x 1 token x 4096 x 2 bytes over NVSwitch), and
  // the busiest stage (the last: 16 layers and the LM head) idles while stage 0 works.
  const StepCost one = cost(sim_config("llama-2-7b", "a100-80gb"), decodes(1, 16));
  const StepCost two = cost(pipelined("llama-2-7b", "a100-80gb", 1, 2), decodes(1, 16));
  const double hop = 2.0 * 4096 * 2 / 300e9 + kNvlinkHop;
  EXPECT_LT(rel(two.seconds, one.seconds + hop), 1e-12);
  EXPECT_LT(rel(two.term("gemm"), (16 * kLayerWeights + kLmHead) * 2 / kBytes), 1e-12);
  EXPECT_LT(rel(two.term("pipeline_send"), hop), 1e-12);
  const double stage0 = 16 * kLayerWeights * 2 / kBytes + 16 * 16 * kKvPerTokenPerLayer / kBytes;
  EXPECT_LT(rel(two.term("pipeline_bubble"), stage0), 1e-12);
  double sum = 0;
  for (const CostTerm& t : two.terms) sum += t.seconds;
  EXPECT_DOUBLE_EQ(sum, two.seconds);
}

TEST(PipelineParallel, DecodeMicrobatchesRereadTheStageWeights) {
  // 64 decodes in m = P = 2 micro-batches of 32: each stage reads its weights once per
  // micro-batch, and the last stage (LM head) binds: C = 2 x t_1.
  const StepCost c = cost(pipelined("llama-2-7b", "a100-80gb", 1, 2), decodes(64, 100));
  const double t1 =
      (16 * kLayerWeights + kLmHead) * 2 / kBytes + 32 * 100 * 16 * kKvPerTokenPerLayer / kBytes;
  EXPECT_LT(rel(c.seconds - c.term("overhead"), 2 * t1), 1e-12);
  EXPECT_EQ(c.term("pipeline_bubble"), 0.0);
  EXPECT_EQ(c.term("pipeline_send"), 0.0);
  // Against one GPU: both stages work at once, so each GPU reads half the KV per cycle, but the
  // last stage reads the LM head once per micro-batch (twice per step).
  const StepCost single = cost(sim_config("llama-2-7b", "a100-80gb"), decodes(64, 100));
  const double half_attention = 64 * 100 * 16 * kKvPerTokenPerLayer / kBytes;
  EXPECT_LT(rel(c.seconds, single.seconds - half_attention + kLmHead * 2 / kBytes), 1e-12);
}

TEST(PipelineParallel, OneMicrobatchLeavesTheBubbleOfPMinusOneStages) {
  // Four equal stages (8 layers, no LM head: nothing samples), one micro-batch: every stage
  // works t and waits 3t, the (P-1)/P bubble; the three hops are on the critical path.
  const ExperimentConfig config = pipelined("llama-2-7b", "a100-80gb", 1, 4, 1);
  const StepCost c = cost(config, prefills(1, 2048));
  const double t = c.term("gemm") + c.term("attention") + c.term("allreduce");
  EXPECT_LT(rel(c.term("pipeline_bubble"), 3 * t), 1e-12);
  const double hop = 2.0 * 2048 * 4096 * 2 / 300e9 + kNvlinkHop;
  EXPECT_LT(rel(c.term("pipeline_send"), 3 * hop), 1e-12);
  // A quarter of the model: the one-GPU step's compute over 4.
  const StepCost single = cost(sim_config("llama-2-7b", "a100-80gb"), prefills(1, 2048));
  EXPECT_LT(rel(t, (single.term("gemm") + single.term("attention")) / 4), 1e-12);
}

TEST(PipelineParallel, MoreMicrobatchesThanStagesFillThePipeline) {
  // m = P = 4 micro-batches of one 512-token prompt: the micro-batch's trip (4t + 3 hops) binds,
  // so no bubble but the hops; m = 8 > P: 8t binds, every stage always busy.
  const StepCost four = cost(pipelined("llama-2-7b", "a100-80gb", 1, 4), prefills(4, 512));
  const double t4 = four.term("gemm") / 4 + four.term("attention") / 4;
  const double hop = 2.0 * 512 * 4096 * 2 / 300e9 + kNvlinkHop;
  EXPECT_EQ(four.term("pipeline_bubble"), 0.0);
  EXPECT_LT(rel(four.term("pipeline_send"), 3 * hop), 1e-12);
  EXPECT_LT(rel(four.seconds - four.term("overhead"), 4 * t4 + 3 * hop), 1e-12);
  const StepCost eight = cost(pipelined("llama-2-7b", "a100-80gb", 1, 4, 8), prefills(8, 512));
  EXPECT_EQ(eight.term("pipeline_bubble"), 0.0);
  EXPECT_EQ(eight.term("pipeline_send"), 0.0);
  // More micro-batches than sequences: one per sequence.
  const StepCost capped = cost(pipelined("llama-2-7b", "a100-80gb", 1, 4, 8), prefills(4, 512));
  EXPECT_EQ(capped.seconds, four.seconds);
}

TEST(PipelineParallel, TwoNodeHopCrossesTheNetwork) {
  // llama-2-70b, TP 8 x PP 2 on 8-GPU H100 nodes: stage 1 on the second node. Each of the 8
  // ranks sends 2 x 256 x 8192 x 2 bytes to its peer through its own NIC (50 GB/s, 5 us).
  const ExperimentConfig two_nodes = pipelined("llama-2-70b", "h100-sxm-80gb", 8, 2);
  const StepCost c = cost(two_nodes, prefills(1, 256));
  const double network_hop = 2.0 * 256 * 8192 * 2 / 50e9 + 5e-6;
  EXPECT_LT(rel(c.term("pipeline_send"), network_hop), 1e-12);
  // The same replica on one 16-GPU NVSwitch node sends over NVLink instead.
  ExperimentConfig one_node = two_nodes;
  one_node.hardware.gpus_per_node = 16;
  const StepCost d = cost(one_node, prefills(1, 256));
  EXPECT_LT(rel(d.term("pipeline_send"), 2.0 * 256 * 8192 * 2 / 450e9 + kNvlinkHop), 1e-12);
  EXPECT_GT(c.seconds, d.seconds);
  // TP all-reduce stays inside each stage's node (80 layers / 2 = 40 per stage).
  EXPECT_GT(c.term("allreduce"), 0.0);
  EXPECT_EQ(c.term("allreduce"), d.term("allreduce"));
}

TEST(PipelineParallel, SwapsMoveEachStagesShareOnAllGpusAtOnce) {
  // PP 2 on a100-80gb: each GPU holds 16 layers' KV; GPUs 0 and 1 share switch 0's uplink.
  const ExperimentConfig config = pipelined("llama-2-7b", "a100-80gb", 1, 2);
  StepShape swap;
  swap.swap_out.push_back({0, 0, 1600});
  const StepCost c = cost(config, swap);
  const double bytes = 1600 * 16 * kKvPerTokenPerLayer;
  const double transfers = 1600 / 16;  // block_size 16
  EXPECT_LT(rel(c.term("swap"), bytes / 12.5e9 + 2e-6 + transfers * 10e-6), 1e-12);
}

Config experiment(const std::string& extra) {
  return Config::parse("[model]\nname = llama-2-7b\n" + extra + "[hardware]\nname = a100-80gb\n",
                       "exp.ini");
}

TEST(PipelineParallel, EachStageHoldsItsLayersKvSoCapacityFollows) {
  Config given = experiment("");
  given.set("hardware.kv_cache_gb", "10");
  const ExperimentConfig one = resolve_experiment(given);
  given.set("model.pipeline_parallel", "2");
  const ExperimentConfig two = resolve_experiment(given);
  // Half the layers per GPU: half the bytes per slot, twice the slots in the same budget.
  EXPECT_EQ(one.kv_bytes_per_slot_per_gpu(), 512 * 1024);
  EXPECT_EQ(two.kv_bytes_per_slot_per_gpu(), 256 * 1024);
  EXPECT_EQ(two.memory.capacity_slots, 2 * one.memory.capacity_slots);
  EXPECT_EQ(two.memory.kv_layers, 16);
  EXPECT_EQ(two.memory.swap_capacity_slots, 2 * one.memory.swap_capacity_slots);
  // Uneven: 32 layers in 3 stages are 11, 11, 10; the 11-layer stages bind.
  given.set("model.pipeline_parallel", "3");
  const ExperimentConfig three = resolve_experiment(given);
  EXPECT_EQ(three.kv_bytes_per_slot_per_gpu(), 11 * 16 * 1024);
  EXPECT_EQ(three.memory.capacity_slots,
            static_cast<int64_t>(std::floor(10.0 * (1 << 30) / (11 * 16 * 1024))));

  // Derived from memory: each stage also holds half the weights, so more than twice.
  const ExperimentConfig derived1 = resolve_experiment(experiment(""));
  const ExperimentConfig derived2 = resolve_experiment(experiment("pipeline_parallel = 2\n"));
  EXPECT_GT(derived2.memory.capacity_slots, 2 * derived1.memory.capacity_slots);
  // The binding stage: 16 layers + embeddings + final norm (stage 0) outweighs 16 layers + LM
  // head (stage 1) by the norm, so capacity is stage 0's budget / 256 KiB.
  const ModelSpec& m = model_catalog().get("llama-2-7b");
  const double stage_weights = (16.0 * m.params_per_layer() + 4096.0 * 32000 +
                                (m.num_params() - 32 * m.params_per_layer() - 2 * 4096.0 * 32000)) *
                               2;
  const double budget = 80.0 * (1 << 30) * 0.9 - stage_weights -
                        4.0 * derived2.scheduler.max_batched_tokens * (4096 + 11008) * 4.0 -
                        (1 << 30);
  EXPECT_EQ(derived2.memory.capacity_slots,
            static_cast<int64_t>(std::floor(budget / (256.0 * 1024))));
}

TEST(PipelineParallel, ResolveErrorsNameTheKeyAndLine) {
  std::string message =
      input_error([] { resolve_experiment(experiment("pipeline_parallel = 40\n")); });
  EXPECT_NE(message.find("exp.ini:3: field 'model.pipeline_parallel': 40 stages exceed "
                         "llama-2-7b's 32 layers"),
            std::string::npos)
      << message;
  message = input_error([] { resolve_experiment(experiment("pipeline_parallel = 0\n")); });
  EXPECT_NE(message.find("model.pipeline_parallel"), std::string::npos) << message;
  message = input_error([] {
    Config c = experiment("tensor_parallel = 4\npipeline_parallel = 2\n");
    c.set("hardware.gpus_per_node", "6");
    resolve_experiment(c);
  });
  EXPECT_NE(message.find("model.pipeline_parallel"), std::string::npos) << message;
  message = input_error([] {
    Config c = experiment("");
    c.set("hardware.network_latency_us", "-0.5");
    resolve_experiment(c);
  });
  EXPECT_NE(message.find("hardware.network_latency_us"), std::string::npos) << message;
}

TEST(PipelineParallel, NetworkOverridesReachTheHop) {
  Config c = Config::parse(
      "[model]\nname = llama-2-70b\ntensor_parallel = 8\npipeline_parallel = 2\n"
      "[hardware]\nname = h100-sxm-80gb\nnetwork_gb_s = 25\nnetwork_latency_us = 3\n",
      "exp.ini");
  const ExperimentConfig config = resolve_experiment(c);
  EXPECT_EQ(config.hardware.network_gb_s, 25.0);
  EXPECT_EQ(config.hardware.network_latency_us, 3.0);
  const StepCost s = cost(config, prefills(1, 256));
  EXPECT_LT(rel(s.term("pipeline_send"), 2.0 * 256 * 8192 * 2 / 25e9 + 7e-6), 1e-12);
}

}  // namespace
}  // namespace kvlab
