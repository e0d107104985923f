// The roofline cost model: each term against its formula, computed here from the catalog
// values, plus the sanity properties a serving researcher expects of a step-time model.
#include "sim/roofline_cost_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <tuple>

#include "app/resolve_experiment.h"
#include "core/cost_model.h"
#include "core/errors.h"
#include "tests/sim/sim_test_config.h"

namespace kvlab {
namespace {

using testing::input_error;

using testing::sim_config;

// llama-2-7b on one a100-80gb with the default efficiencies (0.7 compute, 0.8 bandwidth).
constexpr double kFlops = 312e12 * 0.7;
constexpr double kBytes = 2039e9 * 0.8;
constexpr double kLayerWeights = 4096.0 * 4096 * 4 + 3.0 * 4096 * 11008;  // q,k,v,o + SwiGLU
constexpr double kWeights = 32 * kLayerWeights;
constexpr double kLmHead = 4096.0 * 32000;
constexpr double kKvPerToken = 2.0 * 32 * 32 * 128 * 2;  // 512 KiB
constexpr double kFlopsPerPair = 4.0 * 32 * 128 * 32;    // QK^T + PV, all layers

std::unique_ptr<CostModel> roofline(const ExperimentConfig& config) {
  return cost_models().create("roofline", config);
}

StepShape decodes(int n, int64_t context) {
  StepShape s;
  s.decode_context_lens.assign(static_cast<size_t>(n), context);
  return s;
}

StepShape prefill(int64_t start, int64_t num_tokens, bool samples = true) {
  StepShape s;
  s.prefills.push_back({start, num_tokens, samples});
  return s;
}

int64_t parse_bytes_for_test(const std::string& page) {
  return page == std::string("2MiB") ? (2 << 20) : (64 << 10);
}

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

TEST(RooflineCostModel, RegisteredByName) {
  ASSERT_TRUE(cost_models().contains("roofline"));
  EXPECT_EQ(roofline(sim_config("llama-2-7b", "a100-80gb"))->name(), "roofline");
}

TEST(RooflineCostModel, DecodeOfOneReadsTheWeightsOnce) {
  const auto model = roofline(sim_config("llama-2-7b", "a100-80gb"));
  const StepCost c = model->cost(decodes(1, 16));
  const double gemm = (kWeights + kLmHead) * 2 / kBytes;  // memory-bound
  EXPECT_LT(rel(c.term("gemm"), gemm), 1e-12);
  EXPECT_GT(c.term("gemm"), 2 * (kWeights + kLmHead) / kFlops * 100);
  EXPECT_LT(rel(c.term("attention"), 16 * kKvPerToken / kBytes), 1e-12);
  EXPECT_EQ(c.term("overhead"), 2e-3);
  // ~13.2 GB of matmul weights over ~1.6 TB/s effective: about 8 ms, plus 2 ms of overhead.
  EXPECT_GT(c.term("gemm"), 7e-3);
  EXPECT_LT(c.term("gemm"), 9e-3);
  EXPECT_LT(rel(c.term("gemm"), model_catalog().get("llama-2-7b").weight_bytes() / kBytes), 0.03);
  EXPECT_GT(c.seconds, 9e-3);
  EXPECT_LT(c.seconds, 11e-3);
}

TEST(RooflineCostModel, LongPrefillIsComputeBound) {
  const auto model = roofline(sim_config("llama-2-7b", "a100-80gb"));
  const StepCost c = model->cost(prefill(0, 2048));
  const double flops = 2.0 * 2048 * kWeights + 2.0 * 1 * kLmHead;
  const double bytes = (kWeights + kLmHead) * 2;
  EXPECT_GT(flops / kFlops, 10 * bytes / kBytes);
  EXPECT_LT(rel(c.term("gemm"), flops / kFlops), 1e-12);
  const double pairs = 2048.0 * 2049 / 2;  // causal
  EXPECT_LT(rel(c.term("attention"),
                std::max(pairs * kFlopsPerPair / kFlops, 2048 * kKvPerToken / kBytes)),
            1e-12);
  EXPECT_GT(c.seconds, 0.1);  // ~0.13 s
}

TEST(RooflineCostModel, ChunkedPrefillAttendsToItsPrefix) {
  const auto model = roofline(sim_config("llama-2-7b", "a100-80gb"));
  // Chunk [1024, 2048): its 1024 queries see the 1024-token prefix plus a causal triangle.
  const double pairs = 1024.0 * 1024 + 1024.0 * 1025 / 2;
  const StepCost second = model->cost(prefill(1024, 1024, true));
  EXPECT_LT(rel(second.term("attention"),
                std::max(pairs * kFlopsPerPair / kFlops, 2048 * kKvPerToken / kBytes)),
            1e-12);
  // Compute-bound chunks: their attention adds up to the unchunked prompt's.
  const StepCost first = model->cost(prefill(0, 1024, false));
  const StepCost whole = model->cost(prefill(0, 2048, true));
  EXPECT_LT(rel(first.term("attention") + second.term("attention"), whole.term("attention")),
            1e-12);
  // A chunk that does not reach the end samples nothing: no LM head, no LM head weights.
  EXPECT_LT(rel(first.term("gemm"), 2.0 * 1024 * kWeights / kFlops), 1e-12);
}

TEST(RooflineCostModel, DecodeTimeGrowsLinearlyWithTotalContext) {
  const auto model = roofline(sim_config("llama-2-7b", "a100-80gb"));
  const double t1 = model->cost(decodes(32, 1000)).seconds;
  const double t2 = model->cost(decodes(32, 2000)).seconds;
  const double t3 = model->cost(decodes(32, 3000)).seconds;
  EXPECT_GT(t2, t1);
  EXPECT_LT(rel(t3 - t2, t2 - t1), 1e-9);
  EXPECT_LT(rel(t2 - t1, 32 * 1000 * kKvPerToken / kBytes), 1e-9);
  // Only the total matters: {1000, 3000} costs what {2000, 2000} does.
  StepShape uneven;
  uneven.decode_context_lens = {1000, 3000};
  EXPECT_LT(rel(model->cost(uneven).seconds, model->cost(decodes(2, 2000)).seconds), 1e-12);
}

TEST(RooflineCostModel, DoublingTheDecodeBatchCostsMuchLessThanDouble) {
  const auto model = roofline(sim_config("llama-2-7b", "a100-80gb"));
  const double t32 = model->cost(decodes(32, 128)).seconds;
  const double t64 = model->cost(decodes(64, 128)).seconds;
  EXPECT_GT(t64, t32);
  EXPECT_LT(t64, 1.5 * t32);
  // The GEMMs stay weight-bound: the same time for 1 or 64 sequences.
  EXPECT_EQ(model->cost(decodes(64, 128)).term("gemm"), model->cost(decodes(1, 128)).term("gemm"));
}

TEST(RooflineCostModel, TensorParallelHalvesWeightsAndAddsAllReduce) {
  const auto tp1 = roofline(sim_config("llama-2-7b", "a100-80gb", 1));
  const auto tp2 = roofline(sim_config("llama-2-7b", "a100-80gb", 2));
  const StepCost c1 = tp1->cost(decodes(8, 512));
  const StepCost c2 = tp2->cost(decodes(8, 512));
  EXPECT_LT(rel(c2.term("gemm"), c1.term("gemm") / 2), 1e-12);
  EXPECT_LT(rel(c2.term("attention"), c1.term("attention") / 2), 1e-12);
  EXPECT_EQ(c1.term("allreduce"), 0.0);
  // Two all-reduces per layer of 8 tokens x 4096 x 2 bytes, ring of 2 over NVLink (300 GB/s,
  // 1 us per GPU-NVSwitch-GPU route).
  const double bytes = 8.0 * 4096 * 2;
  EXPECT_LT(rel(c2.term("allreduce"), 2 * 32 * (bytes / 300e9 + 2 * 1e-6)), 1e-12);
  EXPECT_LT(c2.seconds, c1.seconds);
}

TEST(RooflineCostModel, TinyBlocksSwapSlowly) {
  ExperimentConfig config = sim_config("llama-2-7b", "a100-80gb");
  StepShape step;
  step.swap_out = {KvCopy{0, 0, 256}};
  step.swap_in = {KvCopy{0, 0, 256}};
  const double bytes_time = 256 * kKvPerToken / 25e9 + 2e-6;  // alone on a PCIe 4 link

  config.memory.settings.set("memory.block_size", std::to_string(16));
  const double swap16 = roofline(config)->cost(step).term("swap");
  EXPECT_LT(rel(swap16, 2 * (bytes_time + 16 * 10e-6)), 1e-12);

  config.memory.settings.set("memory.block_size", std::to_string(1));
  const double swap1 = roofline(config)->cost(step).term("swap");
  EXPECT_LT(rel(swap1, 2 * (bytes_time + 256 * 10e-6)), 1e-12);
  EXPECT_GT(swap1, 1.4 * swap16);  // 7.9 ms vs 5.6 ms per direction

  // A paged manager with 1-slot blocks lists 256 one-slot copies: the same cost.
  StepShape per_slot;
  for (int64_t i = 0; i < 256; ++i) {
    per_slot.swap_out.push_back(KvCopy{2 * i, i, 1});
    per_slot.swap_in.push_back(KvCopy{i, 2 * i, 1});
  }
  EXPECT_LT(rel(roofline(config)->cost(per_slot).term("swap"), swap1), 1e-12);
}

TEST(RooflineCostModel, ContiguousSwapsOneRangePerTransfer) {
  ExperimentConfig config = sim_config("llama-2-7b", "a100-80gb");
  config.memory.policy = "contiguous";
  StepShape step;
  step.swap_out = {KvCopy{0, 0, 300}, KvCopy{1000, 300, 200}};
  EXPECT_LT(
      rel(roofline(config)->cost(step).term("swap"), 500 * kKvPerToken / 25e9 + 2e-6 + 2 * 10e-6),
      1e-12);
}

TEST(RooflineCostModel, AllTensorParallelGpusSwapAtOnceOverSharedUplinks) {
  // llama-2-70b, TP 8 on a DGX A100: each GPU swaps its 1/8 of the KV (1 of 8 KV heads);
  // GPU pairs share a PCIe switch uplink, so each gets 12.5 of 25 GB/s.
  const ExperimentConfig config = sim_config("llama-2-70b", "a100-80gb", 8);
  StepShape step;
  step.swap_out = {KvCopy{0, 0, 1024}};
  const double per_gpu = 1024.0 * (2 * 80 * 8 * 128 * 2) / 8;
  EXPECT_LT(rel(roofline(config)->cost(step).term("swap"), per_gpu / 12.5e9 + 2e-6 + 64 * 10e-6),
            1e-12);
}

TEST(RooflineCostModel, DeviceCopiesReadAndWrite) {
  const auto model = roofline(sim_config("llama-2-7b", "a100-80gb"));
  StepShape step = decodes(1, 100);
  step.device_copies = {KvCopy{0, 16, 16}, KvCopy{32, 48, 4}};
  EXPECT_LT(rel(model->cost(step).term("copy"), 2 * 20 * kKvPerToken / kBytes), 1e-12);
}

TEST(RooflineCostModel, TermsAreFixedNonNegativeAndSumToTheTotal) {
  const auto model = roofline(sim_config("llama-2-13b", "h100-sxm-80gb", 2));
  StepShape step = decodes(5, 700);
  step.prefills.push_back({0, 300, true});
  step.swap_in = {KvCopy{0, 0, 32}};
  step.device_copies = {KvCopy{0, 16, 16}};
  for (const StepShape& s : {step, StepShape{}}) {
    const StepCost c = model->cost(s);
    ASSERT_EQ(c.terms.size(), 6u);
    const char* names[] = {"gemm", "attention", "swap", "copy", "allreduce", "overhead"};
    double sum = 0;
    for (size_t i = 0; i < 6; ++i) {
      EXPECT_STREQ(c.terms[i].name, names[i]);
      EXPECT_GE(c.terms[i].seconds, 0.0);
      sum += c.terms[i].seconds;
    }
    EXPECT_EQ(c.seconds, sum);
  }
  for (const char* name : {"gemm", "attention", "swap", "copy", "allreduce"}) {
    EXPECT_GT(model->cost(step).term(name), 0.0) << name;
  }
  // An empty step costs the fixed overhead alone.
  EXPECT_EQ(model->cost(StepShape{}).seconds, 2e-3);
}

// The virtual memory policy adds a "vmm" term: pages mapped and unmapped at the per-page
// latency for its page size (or backend.vmm_map_us / vmm_unmap_us), hidden behind gemm +
// attention with memory.overlap_mapping. Other policies list no such term.
TEST(RooflineCostModel, VirtualMemoryPaysPerPageMappedAndUnmapped) {
  ExperimentConfig config = sim_config("llama-3-8b", "h100-sxm-80gb");
  EXPECT_EQ(roofline(config)->cost(decodes(8, 100)).terms.size(), 6u);  // paged: no vmm
  config.memory.policy = "virtual";
  StepShape step = decodes(8, 100);
  step.vmm_pages_mapped = 64 * 3;  // 3 page groups of 2 x 32 layers
  step.vmm_pages_unmapped = 64;
  for (const auto& [page, map_us, unmap_us] :
       {std::tuple{"64KiB", 8.0, 8.0}, std::tuple{"2MiB", 40.0, 34.0}}) {
    config.memory.settings.set("memory.page_size", page);
    EXPECT_EQ(vmm_defaults(parse_bytes_for_test(page)).map_us, map_us);
    const StepCost cost = roofline(config)->cost(step);
    EXPECT_EQ(cost.terms.size(), 7u);
    EXPECT_LT(rel(cost.term("vmm"), (192 * map_us + 64 * unmap_us) * 1e-6), 1e-12) << page;
    double sum = 0;
    for (const CostTerm& t : cost.terms) sum += t.seconds;
    EXPECT_EQ(sum, cost.seconds);
    // No pages, no cost, but the term is listed (the columns line up).
    EXPECT_EQ(roofline(config)->cost(decodes(8, 100)).term("vmm"), 0.0);
    EXPECT_EQ(roofline(config)->cost(decodes(8, 100)).terms.size(), 7u);
  }
  config.raw.set("backend.vmm_map_us", "100");
  config.raw.set("backend.vmm_unmap_us", "0");
  EXPECT_LT(rel(roofline(config)->cost(step).term("vmm"), 192 * 100e-6), 1e-12);
  // Overlapped with the step's compute: only what exceeds gemm + attention shows.
  config.raw.set("memory.overlap_mapping", "true");
  const StepCost hidden = roofline(config)->cost(step);
  const double compute = hidden.term("gemm") + hidden.term("attention");
  EXPECT_LT(rel(hidden.term("vmm"), std::max(0.0, 192 * 100e-6 - compute)), 1e-12);
  step.vmm_pages_mapped = 64 * 1000;
  EXPECT_LT(rel(roofline(config)->cost(step).term("vmm"), 64000 * 100e-6 - compute), 1e-9);
}

TEST(RooflineCostModel, Deterministic) {
  const ExperimentConfig config = sim_config("llama-3-8b", "h200", 4);
  const auto a = roofline(config);
  const auto b = roofline(config);
  std::mt19937_64 rng(20240607);
  for (int trial = 0; trial < 50; ++trial) {
    StepShape step;
    const int num_decodes = static_cast<int>(rng() % 64);
    for (int i = 0; i < num_decodes; ++i) {
      step.decode_context_lens.push_back(1 + static_cast<int64_t>(rng() % 8000));
    }
    if (rng() % 2) step.prefills.push_back({static_cast<int64_t>(rng() % 4000), 512, true});
    if (rng() % 4 == 0)
      step.swap_out.push_back(KvCopy{0, 0, 1 + static_cast<int64_t>(rng() % 512)});
    const StepCost x = a->cost(step);
    const StepCost y = b->cost(step);
    const StepCost z = a->cost(step);
    EXPECT_EQ(x.seconds, y.seconds);
    EXPECT_EQ(x.seconds, z.seconds);
  }
}

// The roofline's keys are checked against their declarations (roofline_keys()) when the
// experiment is resolved, once; what only the model can check (the topology, tensor
// parallelism) it checks itself.
TEST(RooflineCostModel, BadSettingsNameTheirKey) {
  auto resolve_error = [](const std::string& assignment) {
    Config config;
    config.set_override(assignment);
    return input_error([&] { resolve_experiment(config); });
  };
  EXPECT_NE(resolve_error("backend.compute_efficiency=0")
                .find("field 'backend.compute_efficiency': must be a number in (0, 1]"),
            std::string::npos);
  for (const char* bad : {"backend.compute_efficiency=1.5", "backend.bandwidth_efficiency=-0.1",
                          "backend.step_overhead_ms=-1", "backend.swap_overhead_us=-1",
                          "memory.block_size=0"}) {
    const std::string key = std::string(bad).substr(0, std::string(bad).find('='));
    EXPECT_NE(resolve_error(bad).find("field '" + key + "'"), std::string::npos) << bad;
  }
  auto error_for = [](auto mutate) {
    ExperimentConfig config = sim_config("llama-2-7b", "a100-80gb");
    mutate(config);
    return input_error([&] { roofline(config); });
  };
  EXPECT_NE(
      error_for([](ExperimentConfig& c) { c.tensor_parallel = 16; }).find("model.tensor_parallel"),
      std::string::npos);
  EXPECT_NE(error_for([](ExperimentConfig& c) {
              c.hardware.topology = "mesh";
            }).find("hardware.topology"),
            std::string::npos);
}

}  // namespace
}  // namespace kvlab
