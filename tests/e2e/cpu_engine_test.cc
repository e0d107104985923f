// The CPU back end end to end: real tokens from a tiny Llama over the real KV layouts. The
// invariant (DESIGN.md): with greedy sampling, a request's generated tokens do not depend on
// the memory policy, the block size, the preemption mode, capacity pressure or what else
// shares its batch. Pressure is real here: the tests assert that preemptions and swaps
// happened.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "app/builtins.h"
#include "app/experiment_runner.h"
#include "app/resolve_experiment.h"
#include "core/engine.h"
#include "core/errors.h"
#include "core/experiment.h"
#include "core/model_spec.h"
#include "tests/run_test_util.h"

namespace kvlab {
namespace {

using e2e::run_one;
using e2e::Tokens;
using e2e::tokens_of;
using Variant = e2e::EngineVariant;

// 24 requests, all at t=0, on tiny-llama with a 256-token context.
Config tiny(const std::string& extra) {
  return Config::parse(
      "[workload]\nnum_requests = 24\narrival = burst\nprompt_len = uniform:8:90\n"
      "output_len = uniform:8:70\nseed = 11\n"
      "[model]\nname = tiny-llama\nmax_seq_len = 256\n"
      "[hardware]\nname = a10g\n"
      "[memory]\nswap_space_gb = 0.002\n"
      "[backend]\nkind = cpu\n" + extra,
      "cpu_engine_test.ini");
}

// Every request alone (max_num_seqs = 1), plenty of memory: the reference.
const std::map<int64_t, std::vector<std::vector<int32_t>>>& reference() {
  static const auto ref = tokens_of(run_one(tiny(
      "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n[scheduler]\nmax_num_seqs = 1\n")));
  return ref;
}

class CpuEngineInvariance : public ::testing::TestWithParam<Variant> {};

TEST_P(CpuEngineInvariance, GreedyTokensMatchTheRequestRunAlone) {
  const RunResult r = run_one(tiny(GetParam().config));
  EXPECT_EQ(tokens_of(r), reference());
  EXPECT_TRUE(r.has_token_ids);
  e2e::expect_exercised(r, GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Policies, CpuEngineInvariance,
    ::testing::Values(
        Variant{"paged_bs1", "[memory]\npolicy = paged\nblock_size = 1\ncapacity_slots = 8192\n", false, false},
        Variant{"paged_bs16", "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n", false, false},
        Variant{"paged_bs64", "[memory]\npolicy = paged\nblock_size = 64\ncapacity_slots = 8192\n", false, false},
        Variant{"contiguous_max", "[memory]\npolicy = contiguous\nreservation = max\ncapacity_slots = 8192\n", false, false},
        Variant{"contiguous_pow2_buddy",
                "[memory]\npolicy = contiguous\nreservation = pow2\nplacement = buddy\ncapacity_slots = 8192\n",
                false, false},
        Variant{"contiguous_oracle", "[memory]\npolicy = contiguous\nreservation = oracle\ncapacity_slots = 8192\n",
                false, false},
        // Virtual memory: tiny-llama's 128 bytes per token per layer and K/V tensor put 512
        // tokens in a 64 KiB page (16 pages here); the CPU back end maps the pages into real
        // reserved ranges (kernels/vmm_kv_arena.h) and runs the contiguous kernels on them.
        Variant{"virtual_64KiB", "[memory]\npolicy = virtual\npage_size = 64KiB\ncapacity_slots = 8192\n",
                false, false},
        Variant{"virtual_64KiB_deferred_eager",
                "[memory]\npolicy = virtual\npage_size = 64KiB\ncapacity_slots = 2048\n"
                "deferred_reclaim = true\neager_alloc = 1\n",
                false, false},
        Variant{"paged_recompute_pressure",
                "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 320\n[scheduler]\npreemption = recompute\n",
                true, false},
        Variant{"paged_swap_pressure",
                "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 320\n[scheduler]\npreemption = swap\n",
                true, true},
        Variant{"paged_bs1_swap_pressure",
                "[memory]\npolicy = paged\nblock_size = 1\ncapacity_slots = 300\n[scheduler]\npreemption = swap\n",
                true, true},
        Variant{"chunked_prefill",
                "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 400\n"
                "[scheduler]\nchunk_size = 24\nmax_batched_tokens = 64\nmax_num_seqs = 16\npreemption = swap\n",
                true, false}),
    [](const ::testing::TestParamInfo<Variant>& info) { return std::string(info.param.name); });

// Real virtual memory under pressure: sequences longer than a 64 KiB page of tiny-llama (512
// tokens), a 1024-token window (two pages a range) and a pool of three pages, so sequences
// that cross a page boundary find no free page and the scheduler preempts, by recomputation
// or by swapping; pages move between ranges all along. The tokens equal each request run
// alone, and equal paged and contiguous memory under the same workload.
Config long_tiny(const std::string& extra) {
  return Config::parse(
      "[workload]\nnum_requests = 8\narrival = burst\nprompt_len = uniform:300:500\n"
      "output_len = uniform:30:150\nseed = 5\n"
      "[model]\nname = tiny-llama\nmax_seq_len = 1024\n"
      "[hardware]\nname = a10g\n"
      "[memory]\nswap_space_gb = 0.002\n"
      "[backend]\nkind = cpu\n" + extra,
      "cpu_engine_test.ini");
}

const Tokens& long_reference() {
  static const Tokens ref = tokens_of(run_one(long_tiny(
      "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n[scheduler]\nmax_num_seqs = 1\n")));
  return ref;
}

class CpuEngineVirtualMemory : public ::testing::TestWithParam<Variant> {};

TEST_P(CpuEngineVirtualMemory, GreedyTokensMatchTheRequestRunAlone) {
  const RunResult r = run_one(long_tiny(GetParam().config));
  EXPECT_EQ(tokens_of(r), long_reference());
  e2e::expect_exercised(r, GetParam());
  // The virtual manager's runs made real mapping calls, counted in the step table.
  int64_t calls = 0;
  double seconds = 0;
  for (const StepRecord& s : r.steps) {
    calls += s.vmm_calls;
    seconds += s.vmm_s;
    EXPECT_LE(s.vmm_s, s.duration_s);
  }
  EXPECT_EQ(r.summary.get("vmm_calls"), static_cast<double>(calls));
  EXPECT_DOUBLE_EQ(r.summary.get("vmm_s"), seconds);
  if (r.virtual_memory.enabled) {
    EXPECT_GT(calls, 0);
    EXPECT_GT(seconds, 0.0);
    // Mirroring makes at most one call per page the manager mapped or unmapped (a page mapped
    // and unmapped again between two steps costs none).
    EXPECT_LE(calls, r.virtual_memory.pages_mapped + r.virtual_memory.pages_unmapped);
  } else {
    EXPECT_EQ(calls, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Pressure, CpuEngineVirtualMemory,
    ::testing::Values(
        Variant{"paged_bs16", "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n", false, false},
        Variant{"contiguous_max", "[memory]\npolicy = contiguous\nreservation = max\ncapacity_slots = 8192\n",
                false, false},
        Variant{"virtual_roomy", "[memory]\npolicy = virtual\npage_size = 64KiB\ncapacity_slots = 8192\n",
                false, false},
        Variant{"virtual_recompute_pressure",
                "[memory]\npolicy = virtual\npage_size = 64KiB\ncapacity_slots = 1536\n"
                "[scheduler]\npreemption = recompute\n",
                true, false},
        Variant{"virtual_swap_pressure",
                "[memory]\npolicy = virtual\npage_size = 64KiB\ncapacity_slots = 1536\n"
                "[scheduler]\npreemption = swap\n",
                true, true},
        Variant{"virtual_deferred_eager_swap_pressure",
                "[memory]\npolicy = virtual\npage_size = 64KiB\ncapacity_slots = 1536\n"
                "deferred_reclaim = true\neager_alloc = 1\n[scheduler]\npreemption = swap\n",
                true, true}),
    [](const ::testing::TestParamInfo<Variant>& info) { return std::string(info.param.name); });

// The cpu back end maps whole OS pages of K and V: a scaled KV dtype (its per-slot scales
// have no pages) and a real page that is not whole 4 KiB pages are refused at config check
// time, naming the key.
TEST(CpuEngine, VirtualMemoryRefusesWhatItCannotMap) {
  register_builtins();
  auto refused_field = [](const Config& c) {
    try {
      validate_engine_config(resolve_experiment(c));
    } catch (const InputError& e) {
      return e.field();
    }
    return std::string();
  };
  Config c = tiny("[memory]\npolicy = virtual\npage_size = 64KiB\ncapacity_slots = 2048\n");
  c.set("memory.kv_dtype", "int8");
  EXPECT_EQ(refused_field(c), "memory.kv_dtype");
  c.set("memory.kv_dtype", "fp16");
  EXPECT_EQ(refused_field(c), "");
  // opt-13b stored as fp16: 10 KiB per token and tensor, 25 tokens in a 256 KiB page = 250 KiB
  // (62.5 OS pages). Stored as fp32 (auto) the same 25 tokens take 500 KiB: whole pages.
  Config opt = tiny("[memory]\npolicy = virtual\npage_size = 256KiB\n"
                    "[backend]\nmax_host_memory_gb = 100000\n");
  opt.set("model.name", "opt-13b");
  opt.set("model.max_seq_len", "2048");
  opt.set("memory.capacity_slots", "4096");
  opt.set("memory.kv_dtype", "fp16");
  EXPECT_EQ(refused_field(opt), "memory.page_size");
  opt.set("memory.kv_dtype", "auto");
  EXPECT_EQ(refused_field(opt), "");
}

// n > 1: samples forked from one prompt share its blocks until they diverge; each sample's
// tokens equal running it alone with the same seed (greedy: every sample equals the n = 1 run).
TEST(CpuEngine, ParallelSamplesMatchSingleRuns) {
  const std::string random = "[backend]\ntemperature = 0.8\ntop_k = 50\n";
  Config shared = tiny("[memory]\npolicy = paged\nblock_size = 4\ncapacity_slots = 1200\n"
                       "[scheduler]\npreemption = swap\n" + random);
  shared.set("workload.n", "3");
  shared.set("workload.num_requests", "8");
  const RunResult together = run_one(shared);
  int64_t copy_bytes = 0;
  for (const StepRecord& s : together.steps) copy_bytes += s.copy_bytes;
  EXPECT_GT(copy_bytes, 0) << "copy-on-write of the shared last block must happen";
  // The same requests with n = 1, one at a time, no sharing at all: sample 0 of each.
  Config alone = tiny("[memory]\npolicy = contiguous\nreservation = oracle\ncapacity_slots = 8192\n"
                      "[scheduler]\nmax_num_seqs = 1\n" + random);
  alone.set("workload.num_requests", "8");
  const RunResult single = run_one(alone);
  for (size_t i = 0; i < together.requests.size(); ++i) {
    ASSERT_EQ(together.requests[i].token_ids.size(), 3u);
    EXPECT_EQ(together.requests[i].token_ids[0], single.requests[i].token_ids[0]) << "request " << i;
    // Random sampling with per-sample seeds: the samples differ from each other.
    EXPECT_NE(together.requests[i].token_ids[1], together.requests[i].token_ids[2]) << "request " << i;
  }
}

// Contiguous regions cannot share a prompt: each fork copies it into the sample's own region,
// in the step that forks (Executor::copy_within), before the samples' first decodes read it.
// Greedy: every sample's tokens equal those of paged memory, which shares the prompt's blocks.
TEST(CpuEngine, ContiguousForkCopiesRunInTheForkingStep) {
  auto parallel = [](const std::string& memory) {
    Config c = tiny(memory);
    c.set("workload.n", "3");
    c.set("workload.num_requests", "8");
    return run_one(c);
  };
  const RunResult contiguous =
      parallel("[memory]\npolicy = contiguous\nreservation = oracle\ncapacity_slots = 8192\n");
  const RunResult paged =
      parallel("[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n");
  EXPECT_EQ(tokens_of(contiguous), tokens_of(paged));

  // Prefill-first with room for everyone: step 0 prefills all 8 prompts and forks them.
  ASSERT_GT(contiguous.steps.size(), 1u);
  const StepRecord& forking = contiguous.steps[0];
  EXPECT_EQ(forking.num_prefill_seqs, 8);
  int64_t prompt_slots = 0;
  for (const RequestRecord& q : contiguous.requests) prompt_slots += q.prompt_len;
  const int64_t slot_bytes = model_catalog().get("tiny-llama").kv_bytes_per_slot();
  EXPECT_EQ(forking.copy_bytes, 2 * prompt_slots * slot_bytes);  // n - 1 = 2 copies each
  for (size_t i = 1; i < contiguous.steps.size(); ++i) {
    EXPECT_EQ(contiguous.steps[i].copy_bytes, 0) << "step " << i;
  }
  // The copies' measured time is part of the forking step, in its own term.
  const auto& names = contiguous.term_names;
  const auto fork_term = std::find(names.begin(), names.end(), "fork_copy");
  ASSERT_NE(fork_term, names.end());
  const double copy_s = forking.terms.at(static_cast<size_t>(fork_term - names.begin()));
  EXPECT_GT(copy_s, 0.0);
  EXPECT_GE(forking.duration_s, copy_s);
}

// Virtual memory forks by copying the prompt's pages into each sample's range (pages are not
// shared between ranges), through the pool, in the forking step; the samples' tokens equal
// paged memory's, which shares the prompt's blocks.
TEST(CpuEngine, VirtualMemoryForkCopiesMatchPaged) {
  auto parallel = [](const std::string& memory) {
    Config c = tiny(memory);
    c.set("workload.n", "3");
    c.set("workload.num_requests", "8");
    return run_one(c);
  };
  const RunResult virt =
      parallel("[memory]\npolicy = virtual\npage_size = 64KiB\ncapacity_slots = 16384\n");
  const RunResult paged =
      parallel("[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n");
  EXPECT_EQ(tokens_of(virt), tokens_of(paged));
  int64_t copy_bytes = 0;
  for (const StepRecord& s : virt.steps) copy_bytes += s.copy_bytes;
  EXPECT_GT(copy_bytes, 0);
}

// The host swap pool and the KV arena are committed as they are written
// (kernels/lazy_host_memory.h): a 64 GiB swap pool of fp32 K and V (tiny-llama's dtype),
// more than the machines the tests run on have, starts at once and serves a run that swaps.
TEST(CpuEngine, AHugeSwapPoolCostsNothingUntilUsed) {
  Config c = tiny(
      "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 320\n"
      "[scheduler]\npreemption = swap\n[backend]\nmax_host_memory_gb = 1000\n");
  c.set("memory.swap_space_gb", "64");
  c.set("workload.num_requests", "12");
  const RunResult r = run_one(c);
  tokens_of(r);  // every request finished
  int64_t swaps = 0;
  for (const RequestRecord& q : r.requests) swaps += q.num_swaps;
  EXPECT_GT(swaps, 0) << "the run must swap into the pool";
}

// The CPU is not in the hardware catalog: no peaks to take MFU and MBU against.
TEST(CpuEngine, MfuAndMbuAreNaN) {
  const RunResult r = run_one(tiny("[memory]\npolicy = paged\ncapacity_slots = 2048\n"));
  ASSERT_FALSE(r.steps.empty());
  for (const StepRecord& s : r.steps) {
    EXPECT_TRUE(std::isnan(s.mfu));
    EXPECT_TRUE(std::isnan(s.mbu));
  }
  EXPECT_TRUE(std::isnan(r.summary.get("mfu_mean")));
  EXPECT_TRUE(std::isnan(r.summary.get("mbu_mean")));
  EXPECT_GT(r.summary.get("itl_p50_s"), 0);  // measured wall-clock gaps
}

// The back end splits a model over tensor-parallel ranks (tests/e2e/cpu_tensor_parallel_test.cc)
// but not into pipeline stages: model.pipeline_parallel > 1 is refused at config check time
// (validate_engine_config: no executor built, nothing run), as the cuda back end refuses it.
TEST(CpuEngine, RefusesPipelineParallelAtConfigCheck) {
  register_builtins();
  Config c = tiny("[memory]\npolicy = paged\ncapacity_slots = 2048\n");
  c.set("hardware.name", "a100-80gb");  // 8 GPUs a node: the simulator would split over 2
  EXPECT_NO_THROW(validate_engine_config(resolve_experiment(c)));
  c.set("model.pipeline_parallel", "2");  // tiny-llama has 2 layers
  std::string message;
  try {
    validate_engine_config(resolve_experiment(c));
  } catch (const InputError& e) {
    message = e.what();
    EXPECT_EQ(e.field(), "model.pipeline_parallel");
  }
  EXPECT_NE(message.find("does not split them into stages"), std::string::npos) << message;
  EXPECT_THROW(run_experiment(c, RunOptions{}), InputError);
}

TEST(CpuEngine, SameConfigSameDigestDifferentWeightsDifferentDigest) {
  const Config c = tiny("[memory]\npolicy = paged\ncapacity_slots = 2048\n");
  const RunResult a = run_one(c), b = run_one(c);
  EXPECT_EQ(a.output_digest, b.output_digest);
  Config other = c;
  other.set("backend.weights_seed", "5");
  EXPECT_NE(run_one(other).output_digest, a.output_digest);
}

}  // namespace
}  // namespace kvlab
