// memory.kv_dtype on the cpu back end, end to end: fp32 storage is today's cache exactly (same
// tokens and output_digest as auto), and at every quantized dtype a request's greedy tokens
// do not depend on the memory policy, swaps or copy-on-write: the scales move with their
// blocks. Each run is compared with a run of the same dtype without memory pressure.
#include <gtest/gtest.h>

#include <string>

#include "app/experiment_runner.h"
#include "app/resolve_experiment.h"
#include "core/engine.h"
#include "core/errors.h"
#include "tests/run_test_util.h"

namespace kvlab {
namespace {

using e2e::run_one;
using e2e::tokens_of;

// 16 requests, all at t=0, on tiny-llama (or tiny-opt) with a 256-token context.
Config tiny(const std::string& kv_dtype, const std::string& extra,
            const std::string& model = "tiny-llama") {
  return Config::parse(
      "[workload]\nnum_requests = 16\narrival = burst\nprompt_len = uniform:8:90\n"
      "output_len = uniform:8:60\nseed = 11\n"
      "[model]\nname = " + model + "\nmax_seq_len = 256\n"
      "[hardware]\nname = a10g\n"
      "[memory]\nswap_space_gb = 0.002\nkv_dtype = " + kv_dtype + "\n"
      "[backend]\nkind = cpu\n" + extra,
      "cpu_kv_dtype_test.ini");
}

const char* kRoomy = "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n";

TEST(CpuKvDtype, Fp32IsTodaysCacheExactly) {
  for (const char* model : {"tiny-llama", "tiny-opt"}) {
    SCOPED_TRACE(model);
    const std::string pressure =
        "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 320\n"
        "[scheduler]\npreemption = swap\n";
    const RunResult a = run_one(tiny("auto", pressure, model));
    const RunResult b = run_one(tiny("fp32", pressure, model));
    EXPECT_EQ(tokens_of(a), tokens_of(b));
    EXPECT_EQ(a.output_digest, b.output_digest);
    EXPECT_GT(a.summary.get("num_preemptions"), 0);
  }
}

class CpuKvDtypeInvariance : public ::testing::TestWithParam<std::string> {};

// Swap preemption moves blocks (elements and scales) to the host pool and back; recompute
// rewrites them; contiguous memory copies whole regions.
TEST_P(CpuKvDtypeInvariance, TokensDoNotDependOnPolicyOrPreemption) {
  const std::string dtype = GetParam();
  const auto reference = tokens_of(run_one(tiny(dtype, kRoomy)));
  const e2e::EngineVariant variants[] = {
      {"paged_swap", "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 320\n"
                     "[scheduler]\npreemption = swap\n", true, true},
      {"paged_bs1_swap", "[memory]\npolicy = paged\nblock_size = 1\ncapacity_slots = 300\n"
                         "[scheduler]\npreemption = swap\n", true, true},
      {"paged_recompute", "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 320\n"
                          "[scheduler]\npreemption = recompute\n", true, false},
      {"contiguous_oracle", "[memory]\npolicy = contiguous\nreservation = oracle\n"
                            "capacity_slots = 8192\n", false, false},
  };
  for (const e2e::EngineVariant& v : variants) {
    SCOPED_TRACE(v.name);
    const RunResult r = run_one(tiny(dtype, v.config));
    EXPECT_EQ(tokens_of(r), reference);
    e2e::expect_exercised(r, v);
  }
}

// n = 3 greedy samples share the prompt's blocks; appending to the shared last block copies it
// (copy-on-write, scales with it) under swap pressure; contiguous memory copies the prompt at
// the fork. Every sample equals the roomy paged run's.
TEST_P(CpuKvDtypeInvariance, CopyOnWriteAndForkCopiesCarryTheScales) {
  const std::string dtype = GetParam();
  auto parallel = [&](const std::string& memory) {
    Config c = tiny(dtype, memory);
    c.set("workload.n", "3");
    c.set("workload.num_requests", "8");
    return run_one(c);
  };
  const RunResult roomy = parallel(kRoomy);
  const RunResult cow = parallel("[memory]\npolicy = paged\nblock_size = 4\ncapacity_slots = 700\n"
                                 "[scheduler]\npreemption = swap\n");
  const RunResult contiguous =
      parallel("[memory]\npolicy = contiguous\nreservation = oracle\ncapacity_slots = 8192\n");
  int64_t copy_bytes = 0, swaps = 0;
  for (const StepRecord& s : cow.steps) copy_bytes += s.copy_bytes;
  for (const RequestRecord& q : cow.requests) swaps += q.num_swaps;
  EXPECT_GT(copy_bytes, 0) << "copy-on-write must happen";
  EXPECT_GT(swaps, 0) << "swaps must happen";
  EXPECT_EQ(tokens_of(cow), tokens_of(roomy));
  EXPECT_EQ(tokens_of(contiguous), tokens_of(roomy));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CpuKvDtypeInvariance,
                         ::testing::Values("fp16", "bf16", "fp8_e4m3", "int8"),
                         [](const auto& info) { return info.param; });

// The back end's memory check counts the dtype's bytes: a pool that fits in int8 but not in
// fp32 is accepted only in int8.
TEST(CpuKvDtype, MemoryBudgetCountsTheStoredBytes) {
  const std::string big = "[memory]\ncapacity_slots = 3000000\n[backend]\nmax_host_memory_gb = 1\n";
  try {
    validate_engine_config(resolve_experiment(tiny("fp32", big)));
    FAIL() << "3M fp32 slots (1.4 GiB) accepted under 1 GiB";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "memory.capacity_slots");
    EXPECT_NE(std::string(e.what()).find("fp32 KV arena"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(validate_engine_config(resolve_experiment(tiny("int8", big))));
}

}  // namespace
}  // namespace kvlab
