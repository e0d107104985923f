// The cuda back end end to end through run_experiment, against the cpu back end: with
// backend.dtype = fp32 (and tiny-llama's host-generated weights, the CPU engine's), every
// request's greedy tokens equal the CPU engine's for the same requests and policies, under
// memory pressure with preemption by recompute and by swap, chunked prefill, and parallel
// sampling with random draws (sampled on the host from the GPU's logits). Also: fp16 tokens
// do not depend on the layout, and the executor's configuration errors. The shipped CPU
// studies (experiments/cpu_tiny.ini on tiny-llama, cpu_tiny_opt.ini on tiny-opt) give the same
// greedy tokens on both back ends; contiguous samples' fork copies run on the device in the
// step that forks; with memory.kv_dtype fp8_e4m3 and int8 (quantized caches on both), greedy
// tokens equal the cpu back end's at the same dtype. Skipped without a GPU.
#include "core/executor.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/experiment.h"
#include "app/experiment_runner.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/run_test_util.h"

namespace kvlab {
namespace {

using e2e::run_one;
using e2e::tokens_of;
using Variant = e2e::EngineVariant;

// cpu_engine_test.cc's workload: 24 requests at t = 0 on tiny-llama with a 256-token context.
Config tiny(const std::string& kind, const std::string& extra) {
  return Config::parse(
      "[workload]\nnum_requests = 24\narrival = burst\nprompt_len = uniform:8:90\n"
      "output_len = uniform:8:70\nseed = 11\n"
      "[model]\nname = tiny-llama\nmax_seq_len = 256\n"
      "[hardware]\nname = a10g\n"
      "[memory]\nswap_space_gb = 0.002\n"
      "[backend]\nkind = " +
          kind + "\ndtype = fp32\n" + extra,
      "cuda_executor_test.ini");
}

// ctest lists a parameter by what this prints.
void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

// cpu_engine_test.cc's policies: plenty of memory, pressure with recompute and swap, chunking.
const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      Variant{"paged_bs1", "[memory]\npolicy = paged\nblock_size = 1\ncapacity_slots = 8192\n",
              false, false},
      Variant{"paged_bs16", "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n",
              false, false},
      Variant{"contiguous_pow2_buddy",
              "[memory]\npolicy = contiguous\nreservation = pow2\n"
              "placement = buddy\ncapacity_slots = 8192\n",
              false, false},
      Variant{"paged_recompute_pressure",
              "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 320\n"
              "[scheduler]\npreemption = recompute\n",
              true, false},
      Variant{"paged_swap_pressure",
              "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 320\n"
              "[scheduler]\npreemption = swap\n",
              true, true},
      Variant{"paged_bs1_swap_pressure",
              "[memory]\npolicy = paged\nblock_size = 1\ncapacity_slots = 300\n"
              "[scheduler]\npreemption = swap\n",
              true, true},
      Variant{"chunked_prefill",
              "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 400\n"
              "[scheduler]\nchunk_size = 24\nmax_batched_tokens = 64\n"
              "max_num_seqs = 16\npreemption = swap\n",
              true, false}};
  return v;
}

class CudaEngineMatchesCpu : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override { KVLAB_REQUIRE_CUDA_DEVICE(); }
};

TEST_P(CudaEngineMatchesCpu, GreedyTokensEqualTheCpuEngines) {
  const RunResult cpu = run_one(tiny("cpu", GetParam().config));
  const RunResult gpu = run_one(tiny("cuda", GetParam().config));
  EXPECT_TRUE(gpu.has_token_ids);
  EXPECT_EQ(tokens_of(gpu), tokens_of(cpu));
  e2e::expect_exercised(gpu, GetParam());
  ASSERT_FALSE(gpu.steps.empty());
  double busy_s = 0.0;
  for (const StepRecord& s : gpu.steps) {
    EXPECT_GE(s.duration_s, 0.0) << "CUDA-event step time";
    busy_s += s.duration_s;
  }
  EXPECT_GT(busy_s, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Policies, CudaEngineMatchesCpu, ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           return std::string(info.param.name);
                         });

// memory.kv_dtype fp8_e4m3 and int8: the GPU stores the CPU quantizer's codes and scales
// (tests/gpu/kv_quant_test.cc) and reads back the values the CPU reads, so greedy tokens equal
// the cpu back end's at the same kv_dtype, with blocks and their scales swapped under
// pressure. (Only a code whose input lies within the GEMMs' rounding difference of a rounding
// boundary can differ, and the fp32 runs above show those differences do not reach a token.)
class CudaQuantizedKvMatchesCpu : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { KVLAB_REQUIRE_CUDA_DEVICE(); }
};

TEST_P(CudaQuantizedKvMatchesCpu, GreedyTokensEqualTheCpuEnginesAtTheSameKvDtype) {
  for (const Variant& v : variants()) {
    if (v.name != std::string("paged_bs16") && v.name != std::string("paged_swap_pressure")) {
      continue;
    }
    SCOPED_TRACE(v.name);
    Config cpu_config = tiny("cpu", v.config), gpu_config = tiny("cuda", v.config);
    cpu_config.set("memory.kv_dtype", GetParam());
    gpu_config.set("memory.kv_dtype", GetParam());
    const RunResult cpu = run_one(cpu_config);
    const RunResult gpu = run_one(gpu_config);
    EXPECT_EQ(tokens_of(gpu), tokens_of(cpu));
    EXPECT_EQ(gpu.summary.get("kv_capacity_slots"), cpu.summary.get("kv_capacity_slots"));
    e2e::expect_exercised(gpu, v);
  }
}

INSTANTIATE_TEST_SUITE_P(KvDtypes, CudaQuantizedKvMatchesCpu,
                         ::testing::Values("fp8_e4m3", "int8"));

// A shipped CPU study (experiments/`ini`) on back end `kind` in fp32.
Config shipped(const std::string& ini, const std::string& kind) {
  Config c = Config::load(std::string(KVLAB_SOURCE_DIR) + "/experiments/" + ini);
  c.set("workload.num_requests", "16");
  c.set("backend.kind", kind);
  c.set("backend.dtype", "fp32");
  return c;
}

class CudaShippedStudyMatchesCpu : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { KVLAB_REQUIRE_CUDA_DEVICE(); }
};

TEST_P(CudaShippedStudyMatchesCpu, GreedyTokensEqualTheCpuEngines) {
  const RunResult cpu = run_one(shipped(GetParam(), "cpu"));
  const RunResult gpu = run_one(shipped(GetParam(), "cuda"));
  EXPECT_TRUE(gpu.has_token_ids);
  EXPECT_EQ(tokens_of(gpu), tokens_of(cpu));
  EXPECT_GT(gpu.summary.get("mean_batch_size"), 1.5) << "requests must share batches";
}

INSTANTIATE_TEST_SUITE_P(Studies, CudaShippedStudyMatchesCpu,
                         ::testing::Values("cpu_tiny.ini", "cpu_tiny_opt.ini"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "cpu_tiny.ini" ? std::string("tiny_llama")
                                                               : std::string("tiny_opt");
                         });

// Runs everywhere: the shipped studies resolve on the cuda back end (tiny-opt included).
TEST(CudaEngineConfigs, ShippedStudiesResolve) {
  for (const char* ini : {"cpu_tiny.ini", "cpu_tiny_opt.ini"}) {
    const ExperimentConfig config = resolve_experiment(shipped(ini, "cuda"));
    EXPECT_EQ(config.backend.kind, "cuda") << ini;
    EXPECT_GT(config.memory.capacity_slots, 0) << ini;
  }
  EXPECT_EQ(resolve_experiment(shipped("cpu_tiny_opt.ini", "cuda")).model.family, "opt");
}

// Runs everywhere: the configurations resolve (and name the cuda back end), so a GPU session
// does not discover a typo in them.
TEST(CudaEngineConfigs, EveryVariantResolves) {
  for (const Variant& v : variants()) {
    const ExperimentConfig config = resolve_experiment(tiny("cuda", v.config));
    EXPECT_EQ(config.backend.kind, "cuda") << v.name;
    EXPECT_EQ(config.backend.dtype, "fp32") << v.name;
    EXPECT_GT(config.memory.capacity_slots, 0) << v.name;
  }
}

TEST(CudaEngine, ParallelRandomSamplingEqualsTheCpuEngines) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  const std::string extra =
      "[memory]\npolicy = paged\nblock_size = 4\ncapacity_slots = 1200\n[scheduler]\npreemption = "
      "swap\n"
      "[backend]\ntemperature = 0.8\ntop_k = 50\n";
  Config cpu = tiny("cpu", extra), gpu = tiny("cuda", extra);
  for (Config* c : {&cpu, &gpu}) {
    c->set("workload.n", "3");
    c->set("workload.num_requests", "8");
  }
  EXPECT_EQ(tokens_of(run_one(gpu)), tokens_of(run_one(cpu)));
}

// Contiguous samples copy their prompt on the device in the step that forks
// (CudaExecutor::copy_within); their tokens equal the cpu engine's, and that step counts them.
TEST(CudaEngine, ContiguousForkCopiesRunInTheForkingStep) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  const std::string extra =
      "[memory]\npolicy = contiguous\nreservation = oracle\ncapacity_slots = 8192\n";
  Config cpu = tiny("cpu", extra), gpu = tiny("cuda", extra);
  for (Config* c : {&cpu, &gpu}) {
    c->set("workload.n", "3");
    c->set("workload.num_requests", "8");
  }
  const RunResult on_gpu = run_one(gpu);
  EXPECT_EQ(tokens_of(on_gpu), tokens_of(run_one(cpu)));
  ASSERT_FALSE(on_gpu.steps.empty());
  EXPECT_GT(on_gpu.steps[0].copy_bytes, 0);  // every prompt is prefilled and forked in step 0
}

TEST(CudaEngine, Fp16TokensDoNotDependOnTheLayout) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  // One request at a time: both layouts see the same steps with the same GEMM shapes, and the
  // attention kernels read paged and contiguous layouts bit-identically.
  auto fp16 = [](const std::string& memory) {
    Config c = tiny("cuda", memory + "[scheduler]\nmax_num_seqs = 1\n");
    c.set("backend.dtype", "fp16");
    return run_one(c);
  };
  const RunResult paged =
      fp16("[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n");
  const RunResult contiguous =
      fp16("[memory]\npolicy = contiguous\nreservation = max\ncapacity_slots = 8192\n");
  EXPECT_EQ(tokens_of(paged), tokens_of(contiguous));
}

TEST(CudaExecutorConfig, RefusesAnArenaLargerThanFreeMemory) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  const ExperimentConfig config =
      resolve_experiment(tiny("cuda", "[memory]\ncapacity_slots = 10000000000\n"));
  try {
    executors().create("cuda", config);
    FAIL() << "a 5 TB KV arena was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("memory.capacity_slots"), std::string::npos) << what;
    EXPECT_NE(what.find("slots fit"), std::string::npos) << what;
  }
}

TEST(CudaExecutorConfig, RefusesAMissingDeviceIndexAndRunsOptModels) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  EXPECT_THROW(
      executors().create("cuda", resolve_experiment(tiny("cuda",
                                                         "[backend]\ndevice = 999\n"
                                                         "[memory]\ncapacity_slots = 64\n"))),
      InputError);
  // The opt family runs (it was refused before CudaOptModel).
  Config opt = tiny("cuda", "[memory]\ncapacity_slots = 64\n");
  opt.set("model.name", "tiny-opt");
  const std::unique_ptr<Executor> executor = executors().create("cuda", resolve_experiment(opt));
  EXPECT_NE(executor->name().find("tiny-opt"), std::string::npos) << executor->name();
}

}  // namespace
}  // namespace kvlab
