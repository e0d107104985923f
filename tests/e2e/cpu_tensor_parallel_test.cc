// The cpu back end's tensor parallelism end to end (kernels/cpu_executor.h): model.tensor_parallel
// = 1, 2 and 4 ranks give one output_digest (the same greedy tokens, request by request) under
// paged, contiguous and virtual memory, recompute and swap preemption and chunked prefill, with
// preemptions and swaps really exercised; the step table carries the ranks' measured
// collective time in a column of its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "app/builtins.h"
#include "app/experiment_runner.h"
#include "app/resolve_experiment.h"
#include "core/engine.h"
#include "core/errors.h"
#include "core/experiment.h"
#include "tests/run_test_util.h"

namespace kvlab {
namespace {

using e2e::run_one;
using e2e::tokens_of;
using Variant = e2e::EngineVariant;

// 24 requests at t=0 on `model` (tiny-llama-8h: 8 heads, 4 KV heads; tiny-opt: 4 and 4), on
// a10g hardware (one GPU a node: the cpu back end's ranks are threads, not GPUs).
Config tiny(const std::string& model, int32_t ranks, const std::string& extra) {
  return Config::parse(
      "[workload]\nnum_requests = 24\narrival = burst\nprompt_len = uniform:8:90\n"
      "output_len = uniform:8:70\nseed = 11\n"
      "[model]\nname = " +
          model + "\nmax_seq_len = 256\ntensor_parallel = " + std::to_string(ranks) +
          "\n"
          "[hardware]\nname = a10g\n"
          "[memory]\nswap_space_gb = 0.002\n"
          "[backend]\nkind = cpu\n" +
          extra,
      "cpu_tensor_parallel_test.ini");
}

double term_total(const RunResult& r, const std::string& name) {
  const auto it = std::find(r.term_names.begin(), r.term_names.end(), name);
  if (it == r.term_names.end()) return -1.0;  // no such column
  const auto t = static_cast<size_t>(it - r.term_names.begin());
  double total = 0.0;
  for (const StepRecord& s : r.steps) total += s.terms.at(t);
  return total;
}

struct Case {
  const char* model;
  Variant variant;
};

class CpuTensorParallel : public ::testing::TestWithParam<Case> {};

TEST_P(CpuTensorParallel, OneDigestForOneTwoAndFourRanks) {
  const Case& c = GetParam();
  const RunResult one = run_one(tiny(c.model, 1, c.variant.config));
  e2e::expect_exercised(one, c.variant);
  EXPECT_EQ(term_total(one, "collective"), -1.0) << "one rank has no collectives";
  for (const int32_t ranks : {2, 4}) {
    SCOPED_TRACE("model.tensor_parallel = " + std::to_string(ranks));
    const RunResult r = run_one(tiny(c.model, ranks, c.variant.config));
    e2e::expect_exercised(r, c.variant);
    EXPECT_EQ(r.output_digest, one.output_digest);
    EXPECT_EQ(tokens_of(r), tokens_of(one));
    EXPECT_EQ(r.summary.get("num_preemptions"), one.summary.get("num_preemptions"));
    const double collective = term_total(r, "collective");
    EXPECT_GT(collective, 0.0);
    EXPECT_LT(collective, r.summary.get("duration_s"));
  }
}

// Cases of tests/e2e/cpu_engine_test.cc, on models every rank count splits.
constexpr Variant kPagedSwap{"paged_swap_pressure",
                             "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = "
                             "320\n[scheduler]\npreemption = swap\n",
                             true, true};
constexpr Variant kPagedRecompute{"paged_recompute_pressure",
                                  "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = "
                                  "320\n[scheduler]\npreemption = recompute\n",
                                  true, false};
// Contiguous regions are reserved whole at admission, so nothing is preempted; the pressure
// is on admission (requests wait for regions, batches change).
constexpr Variant kContiguousPow2{
    "contiguous_pow2_tight",
    "[memory]\npolicy = contiguous\nreservation = pow2\nplacement = buddy\ncapacity_slots = 600\n",
    false, false};
constexpr Variant kContiguousMax{
    "contiguous_max", "[memory]\npolicy = contiguous\nreservation = max\ncapacity_slots = 4096\n",
    false, false};
constexpr Variant kChunked{
    "chunked_prefill",
    "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 400\n"
    "[scheduler]\nchunk_size = 24\nmax_batched_tokens = 64\nmax_num_seqs = 16\npreemption = swap\n",
    true, false};
// Real virtual memory: each rank maps pages of its KV heads (the manager's page holds T times
// the tokens, as memory.page_size is per GPU).
constexpr Variant kVirtual{"virtual_64KiB",
                           "[memory]\npolicy = virtual\npage_size = 64KiB\ncapacity_slots = 8192\n",
                           false, false};

// Quantized KV (int8: a scale per slot and KV head) swapped out and back: each rank's scales
// move with its slots.
constexpr Variant kInt8Swap{
    "int8_swap_pressure",
    "[memory]\npolicy = paged\nblock_size = 8\ncapacity_slots = 320\nkv_dtype = int8\n"
    "[scheduler]\npreemption = swap\n",
    true, true};

INSTANTIATE_TEST_SUITE_P(
    Policies, CpuTensorParallel,
    ::testing::Values(Case{"tiny-llama-8h", kPagedSwap}, Case{"tiny-llama-8h", kPagedRecompute},
                      Case{"tiny-llama-8h", kContiguousPow2}, Case{"tiny-llama-8h", kContiguousMax},
                      Case{"tiny-llama-8h", kChunked}, Case{"tiny-llama-8h", kVirtual},
                      Case{"tiny-llama-8h", kInt8Swap}, Case{"tiny-opt", kPagedSwap},
                      Case{"tiny-opt", kContiguousPow2}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string model = info.param.model;
      std::replace(model.begin(), model.end(), '-', '_');
      return model + "_" + info.param.variant.name;
    });

// Parallel sampling (n = 3, temperature): the paged manager's copy-on-write of a shared last
// block (in the step's plan) and the contiguous manager's fork copies (Executor::copy_within)
// are carried out on every rank's arena; the sampled tokens do not depend on T.
TEST(CpuTensorParallelForks, CopyOnWriteAndForkCopiesOnEveryRank) {
  for (const std::string memory :
       {"[memory]\npolicy = paged\nblock_size = 4\ncapacity_slots = 1200\n",
        "[memory]\npolicy = contiguous\nreservation = oracle\ncapacity_slots = 4096\n"}) {
    SCOPED_TRACE(memory);
    const std::string extra =
        memory + "[scheduler]\npreemption = swap\n[backend]\ntemperature = 0.8\ntop_k = 50\n";
    RunResult one;
    for (const int32_t ranks : {1, 2, 4}) {
      Config c = tiny("tiny-llama-8h", ranks, extra);
      c.set("workload.n", "3");
      c.set("workload.num_requests", "8");
      const RunResult r = run_one(c);
      int64_t copy_bytes = 0;
      for (const StepRecord& s : r.steps) copy_bytes += s.copy_bytes;
      EXPECT_GT(copy_bytes, 0);
      if (ranks == 1) {
        one = r;
        continue;
      }
      EXPECT_EQ(r.output_digest, one.output_digest) << ranks << " ranks";
      EXPECT_EQ(tokens_of(r), tokens_of(one)) << ranks << " ranks";
    }
  }
}

std::string refusal(const Config& c, std::string* field) {
  try {
    validate_engine_config(resolve_experiment(c));
  } catch (const InputError& e) {
    *field = e.field();
    return e.what();
  }
  return "";
}

// A rank count that does not divide the heads and KV heads is refused, naming the key, before
// anything runs.
TEST(CpuTensorParallelConfig, RefusesRanksThatDoNotDivideTheHeads) {
  register_builtins();
  const std::string paged = "[memory]\npolicy = paged\ncapacity_slots = 2048\n";
  std::string field;
  // tiny-llama has 2 KV heads.
  std::string message = refusal(tiny("tiny-llama", 4, paged), &field);
  EXPECT_EQ(field, "model.tensor_parallel");
  EXPECT_NE(message.find("KV heads (2)"), std::string::npos) << message;
  message = refusal(tiny("tiny-llama-8h", 3, paged), &field);
  EXPECT_EQ(field, "model.tensor_parallel");
  EXPECT_NE(message.find("heads (8)"), std::string::npos) << message;
  EXPECT_THROW(run_experiment(tiny("tiny-llama-8h", 3, paged), RunOptions{}), InputError);
  // More ranks than the catalog hardware's GPUs a node is fine: they are threads.
  EXPECT_EQ(refusal(tiny("tiny-llama", 2, paged), &field), "");
}

}  // namespace
}  // namespace kvlab
