// memory.kv_dtype in the simulator: bytes per slot (core/kv_dtype.h) reach the KV capacity of
// every catalog model, the roofline's attention and copy bandwidth, and the step records' swap
// bytes; auto is the model's dtype, so nothing changes by default.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "app/experiment_runner.h"
#include "core/experiment.h"
#include "core/model_spec.h"
#include "core/step_work.h"
#include "tests/e2e/e2e_util.h"
#include "tests/run_test_util.h"

namespace kvlab {
namespace {

ExperimentConfig resolve_with(const std::string& model, const std::string& kv_dtype,
                              const std::string& hardware_extra = "kv_cache_gb = 16\n") {
  return resolve_experiment(Config::parse("[model]\nname = " + model +
                                              "\n[hardware]\nname = h100-sxm-80gb\n" +
                                              hardware_extra + "[memory]\nkv_dtype = " + kv_dtype +
                                              "\n",
                                          "kv_dtype.ini"));
}

TEST(KvDtypeCapacity, BytesPerSlotFollowTheDtypeWithScalesCounted) {
  for (const std::string& name : model_catalog().names()) {
    SCOPED_TRACE(name);
    const ModelSpec& m = model_catalog().get(name);
    const int64_t heads = 2LL * m.num_layers * m.num_kv_heads;  // (layer, K/V, KV head) vectors
    EXPECT_EQ(resolve_with(name, "auto").model.kv_bytes_per_slot(), m.kv_bytes_per_slot());
    EXPECT_EQ(resolve_with(name, "fp32").model.kv_bytes_per_slot(), heads * m.head_dim * 4);
    EXPECT_EQ(resolve_with(name, "fp16").model.kv_bytes_per_slot(), heads * m.head_dim * 2);
    EXPECT_EQ(resolve_with(name, "bf16").model.kv_bytes_per_slot(), heads * m.head_dim * 2);
    EXPECT_EQ(resolve_with(name, "fp8_e4m3").model.kv_bytes_per_slot(),
              heads * (m.head_dim + kKvScaleBytes));
    EXPECT_EQ(resolve_with(name, "int8").model.kv_bytes_per_slot(),
              heads * (m.head_dim + kKvScaleBytes));
  }
}

// The check: fp8 holds twice fp16's slots on every catalog model, less only its scales
// (one fp32 per head_dim elements: a factor head_dim / (head_dim + 4)).
TEST(KvDtypeCapacity, Fp8HoldsTwiceFp16LessOnlyItsScalesOnEveryCatalogModel) {
  for (const std::string& name : model_catalog().names()) {
    SCOPED_TRACE(name);
    const ModelSpec& m = model_catalog().get(name);
    const int64_t fp16 = resolve_with(name, "fp16").memory.capacity_slots;
    const int64_t fp8 = resolve_with(name, "fp8_e4m3").memory.capacity_slots;
    ASSERT_GT(fp16, 0);
    // Without scales fp8 would hold exactly 2 x fp16 (+1 for fp16's rounding down).
    const double scale_factor = static_cast<double>(m.head_dim) / (m.head_dim + kKvScaleBytes);
    const double expected = 2.0 * static_cast<double>(fp16) * scale_factor;
    EXPECT_NEAR(static_cast<double>(fp8), expected, 2.0)
        << "fp16 " << fp16 << " slots, fp8 " << fp8;
    if (m.head_dim >= 128) {
      EXPECT_GT(fp8, fp16 * 19 / 10) << "scales cost more than 5%";
    }
    EXPECT_EQ(resolve_with(name, "int8").memory.capacity_slots, fp8);
    EXPECT_EQ(resolve_with(name, "bf16").memory.capacity_slots, fp16);
    EXPECT_NEAR(static_cast<double>(resolve_with(name, "fp32").memory.capacity_slots),
                static_cast<double>(fp16) / 2.0, 1.0);
  }
}

// Derived capacity (GPU memory minus weights and activations): the same bytes for the KV cache,
// so the same ratio; the modern setup (Llama-3-8B on an H100).
TEST(KvDtypeCapacity, DerivedCapacityGainsTheSameOnTheModernSetup) {
  const int64_t fp16 = resolve_with("llama-3-8b", "fp16", "").memory.capacity_slots;
  const int64_t fp8 = resolve_with("llama-3-8b", "fp8_e4m3", "").memory.capacity_slots;
  EXPECT_EQ(resolve_with("llama-3-8b", "auto", "").memory.capacity_slots, fp16);
  EXPECT_NEAR(static_cast<double>(fp8), 2.0 * fp16 * 128.0 / 132.0, 2.0);
}

TEST(KvDtypeCapacity, SwapPoolFollowsTheDtype) {
  const ExperimentConfig fp16 = resolve_with("opt-13b", "fp16");
  const ExperimentConfig int8 = resolve_with("opt-13b", "int8");
  EXPECT_NEAR(static_cast<double>(int8.memory.swap_capacity_slots),
              2.0 * fp16.memory.swap_capacity_slots * 128.0 / 132.0, 2.0);
}

TEST(KvDtypeRoofline, AttentionAndCopyBytesFollowTheDtype) {
  const ExperimentConfig fp16 = resolve_with("llama-3-8b", "fp16");
  const ExperimentConfig fp8 = resolve_with("llama-3-8b", "fp8_e4m3");
  StepSums sums;
  sums.tokens = 8;
  sums.decode_pairs = 8 * 4096;
  sums.prefill_tokens_touched = 512;
  sums.device_copy_slots = 16;
  const StepWork a = WorkCounter(fp16.model, 1).count(sums);
  const StepWork b = WorkCounter(fp8.model, 1).count(sums);
  const double ratio = 132.0 / 256.0;  // fp8 + scale bytes over fp16 bytes, per head vector
  EXPECT_DOUBLE_EQ(b.decode_attention_bytes, a.decode_attention_bytes * ratio);
  EXPECT_DOUBLE_EQ(b.prefill_attention_bytes, a.prefill_attention_bytes * ratio);
  EXPECT_DOUBLE_EQ(b.copy_bytes, a.copy_bytes * ratio);
  EXPECT_DOUBLE_EQ(b.gemm_bytes, a.gemm_bytes) << "weights keep the model's dtype";
  EXPECT_DOUBLE_EQ(b.decode_attention_flops, a.decode_attention_flops);
}

// A run under memory pressure: the step table's swap bytes are slots x the dtype's bytes.
TEST(KvDtypeRun, SwapBytesAreSlotsTimesTheDtypesBytes) {
  for (const std::string dtype : {"auto", "int8"}) {
    SCOPED_TRACE(dtype);
    const Config c = Config::parse(
        "[workload]\ntrace = " + e2e::source_path("traces/data/sharegpt_lengths_sample.csv") +
            "\narrival = poisson\nrate = 20\nnum_requests = 60\nseed = 1\nmax_total_len = 2048\n"
            "n = 2\n[model]\nname = opt-13b\n[hardware]\nname = a100-40gb\n"
            "[memory]\ncapacity_slots = 3000\nkv_dtype = " + dtype +
            "\n[scheduler]\npreemption = swap\n",
        "swap.ini");
    const ExperimentConfig e = resolve_experiment(c);
    const RunResult r = e2e::run_one(c);
    int64_t swapped = 0;
    for (const StepRecord& s : r.steps) {
      EXPECT_EQ(s.swap_out_bytes % e.model.kv_bytes_per_slot(), 0);
      swapped += s.swap_out_bytes;
    }
    EXPECT_GT(swapped, 0) << "the run should swap";
    // The summary's KV cache in bytes: the memory breakdown's fractions are shares of it.
    EXPECT_EQ(r.summary.get("kv_bytes_per_slot"), static_cast<double>(e.kv_bytes_per_slot_per_gpu()));
    EXPECT_DOUBLE_EQ(r.summary.get("kv_capacity_gib"),
                     r.summary.get("kv_capacity_slots") *
                         static_cast<double>(e.kv_bytes_per_slot_per_gpu()) / (1 << 30));
  }
}

}  // namespace
}  // namespace kvlab
