// Whole simulated experiments, in-process: capacity math, conservation of requests and tokens,
// determinism, the vLLM paper's pattern under load, and sweep parallelism.
#include <gtest/gtest.h>

#include <cmath>

#include <algorithm>

#include "core/errors.h"
#include "core/experiment.h"
#include "app/experiment_runner.h"
#include "tests/run_test_util.h"
#include "tests/e2e/e2e_util.h"

namespace kvlab {
namespace {

using e2e::run_one;

Config paper_setup(const std::string& extra) {
  // The vLLM paper's setup: OPT-13B on one A100-40GB with 12 GiB of KV cache, ShareGPT lengths.
  return Config::parse("[workload]\ntrace = " + e2e::source_path("traces/data/sharegpt_lengths_sample.csv") +
                           "\narrival = poisson\nrate = 4\nnum_requests = 300\nseed = 1\n"
                           "max_total_len = 2048\n"
                           "[model]\nname = opt-13b\n[hardware]\nname = a100-40gb\nkv_cache_gb = 12\n" +
                           extra,
                       "test.ini");
}

TEST(Simulation, Opt13bWith12GiBHas15_7KSlots) {
  const ExperimentConfig e = resolve_experiment(paper_setup(""));
  EXPECT_EQ(e.model.kv_bytes_per_slot(), 800 * 1024);
  EXPECT_EQ(e.memory.capacity_slots, 15728);
}

TEST(Simulation, ContiguousMaxNeverRunsMoreThanCapacityOverMaxSeqLen) {
  const RunResult r = run_one(paper_setup("[memory]\npolicy = contiguous\nreservation = max\n"));
  const int64_t limit = 15728 / 2048;  // 7: the paper's Orca-Max batch of 7.00 at 2 req/s
  int32_t most = 0;
  for (const StepRecord& s : r.steps) most = std::max(most, s.num_running);
  EXPECT_LE(most, limit);
  EXPECT_EQ(most, limit) << "under this load the arena should fill up";
  EXPECT_DOUBLE_EQ(r.summary.get("num_finished"), r.summary.get("num_requests"));
}

TEST(Simulation, EveryRowIsFinishedRejectedOrFilteredAndTokensAddUp) {
  const RunResult r = run_one(Config::parse(
      "[workload]\ntrace = " + e2e::source_path("traces/data/azure_conv_sample.csv") +
          "\nnum_requests = 400\nmax_prompt_len = 6000\n"
          "[model]\nname = llama-2-7b\n[hardware]\nname = a100-40gb\n"
          "[scheduler]\nmax_batched_tokens = 8192\n",
      "test.ini"));
  int64_t finished = 0, rejected = 0, generated = 0, expected_tokens = 0;
  for (const RequestRecord& q : r.requests) {
    if (q.outcome == RequestOutcome::kFinished) {
      ++finished;
      generated += q.generated_tokens;
      expected_tokens += static_cast<int64_t>(q.output_len) * q.n;
    } else {
      EXPECT_EQ(q.outcome, RequestOutcome::kRejected);
      EXPECT_FALSE(q.reject_reason.empty());
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0) << "requests over llama-2-7b's 4096-token context must be rejected";
  EXPECT_EQ(finished + rejected, 400);
  EXPECT_EQ(r.workload.rows_read,
            400 + r.workload.num_filtered() + r.workload.bad_rows_skipped);
  EXPECT_GT(r.workload.filtered_prompt_len, 0);
  EXPECT_EQ(generated, expected_tokens);
  EXPECT_DOUBLE_EQ(r.summary.get("generated_tokens"), static_cast<double>(generated));
  int64_t stepped_tokens = 0;
  for (const StepRecord& s : r.steps) {
    stepped_tokens += s.decode_tokens;
    EXPECT_EQ(s.memory.sum(), s.memory.capacity);
  }
  // Each request's first token is sampled by its prefill, each later one by a decode step that
  // fed back the previous token (n = 1, and recompute re-prefills rather than decodes).
  if (r.summary.get("num_preemptions") == 0) {
    EXPECT_EQ(stepped_tokens, generated - finished);
  }
}

TEST(Simulation, SameConfigAndSeedGiveIdenticalResults) {
  const Config c = paper_setup("[memory]\npolicy = paged\n[scheduler]\npreemption = swap\n");
  const RunResult a = run_one(c), b = run_one(c);
  ASSERT_EQ(a.steps.size(), b.steps.size());
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_EQ(a.steps[i].time_s, b.steps[i].time_s);
    EXPECT_EQ(a.steps[i].batch_size, b.steps[i].batch_size);
    EXPECT_EQ(a.steps[i].memory, b.steps[i].memory);
  }
  ASSERT_EQ(a.requests.size(), b.requests.size());
  for (size_t i = 0; i < a.requests.size(); ++i) {
    EXPECT_EQ(a.requests[i].finish_s, b.requests[i].finish_s);
    EXPECT_EQ(a.requests[i].num_preemptions, b.requests[i].num_preemptions);
  }
  for (const auto& [k, v] : a.summary.values) {
    if (k != "wall_s") {
      const double w = b.summary.get(k);
      EXPECT_TRUE(v == w || (std::isnan(v) && std::isnan(w))) << k << ": " << v << " vs " << w;
    }
  }
}

// output.record_steps = false drops the step table, not what the summary says about the steps.
TEST(Simulation, SummaryIsTheSameWithoutTheStepTable) {
  for (const char* memory : {"policy = paged\n", "policy = contiguous\nreservation = max\n"}) {
    const std::string base = std::string("[memory]\n") + memory + "capacity_slots = 6000\n";
    const RunResult kept = run_one(paper_setup(base));
    const RunResult dropped = run_one(paper_setup(base + "[output]\nrecord_steps = false\n"));
    EXPECT_TRUE(dropped.steps.empty());
    ASSERT_GT(kept.steps.size(), 100u);
    EXPECT_EQ(dropped.summary.get("num_steps"), static_cast<double>(kept.steps.size()));
    EXPECT_GT(dropped.summary.get("mean_batch_size"), 1.0) << memory;
    for (const auto& [k, v] : kept.summary.values) {
      if (k == "wall_s") continue;
      const double w = dropped.summary.get(k);
      EXPECT_TRUE(v == w || (std::isnan(v) && std::isnan(w))) << memory << k << ": " << v << " vs " << w;
    }
  }
}

TEST(Simulation, PagedKeepsUsedMemoryInTokenStatesContiguousMaxDoesNot) {
  const RunResult paged = run_one(paper_setup("[memory]\npolicy = paged\nblock_size = 16\n"));
  const RunResult orca = run_one(paper_setup("[memory]\npolicy = contiguous\nreservation = max\n"));
  EXPECT_GT(paged.summary.get("kv_token_states_of_used_frac"), 0.9);
  EXPECT_LT(orca.summary.get("kv_token_states_of_used_frac"), 0.5);
  EXPECT_GT(paged.summary.get("mean_batch_size"), 2 * orca.summary.get("mean_batch_size"));
}

TEST(Simulation, SweepResultsDoNotDependOnJobs) {
  Config c = paper_setup("[sweep]\nmemory.policy = paged, contiguous\nmemory.block_size = 8, 32\n");
  c.set_override("workload.num_requests=120");
  RunOptions one, two;
  one.jobs = 1;
  two.jobs = 2;
  const auto a = run_experiment(c, one), b = run_experiment(c, two);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  for (size_t p = 0; p < a.size(); ++p) {
    EXPECT_EQ(a[p].label, b[p].label);
    ASSERT_EQ(a[p].steps.size(), b[p].steps.size());
    for (size_t i = 0; i < a[p].steps.size(); ++i) EXPECT_EQ(a[p].steps[i].memory, b[p].steps[i].memory);
  }
  EXPECT_EQ(a[1].label, "memory.policy=paged, memory.block_size=32");
  // Shards partition the points.
  RunOptions shard;
  shard.shard = parse_shard("1/2");
  const auto odd = run_experiment(c, shard);
  ASSERT_EQ(odd.size(), 2u);
  EXPECT_EQ(odd[0].label, a[1].label);
  EXPECT_EQ(odd[1].label, a[3].label);
}

TEST(Simulation, PreemptionUnderPressureStillFinishesEverything) {
  for (const char* mode : {"recompute", "swap"}) {
    const RunResult r = run_one(paper_setup(std::string("[memory]\npolicy = paged\ncapacity_slots = 4096\n"
                                                        "[scheduler]\npreemption = ") + mode + "\n"));
    EXPECT_GT(r.summary.get("num_preemptions"), 0) << mode;
    EXPECT_DOUBLE_EQ(r.summary.get("num_finished"), r.summary.get("num_requests")) << mode;
  }
}

// MFU and MBU come from the roofline's own FLOP and byte counts over step times the roofline
// made at most that long (efficiencies <= 1, plus overheads): within (0, 1], with swaps, forks
// (contiguous copies them), chunked prefill and tensor parallelism.
TEST(Simulation, MfuAndMbuOfEveryStepAreWithinZeroAndOne) {
  const char* setups[] = {
      "[memory]\npolicy = paged\ncapacity_slots = 4096\n[scheduler]\npreemption = swap\n",
      "[workload]\nn = 2\n[memory]\npolicy = contiguous\nreservation = oracle\n",
      "[scheduler]\nchunk_size = 512\n[model]\ntensor_parallel = 2\n[hardware]\ngpus_per_node = 2\n",
  };
  for (const char* setup : setups) {
    const RunResult r = run_one(paper_setup(setup));
    ASSERT_FALSE(r.steps.empty()) << setup;
    for (const StepRecord& s : r.steps) {
      ASSERT_GT(s.mfu, 0) << setup;
      ASSERT_LE(s.mfu, 1) << setup;
      ASSERT_GT(s.mbu, 0) << setup;
      ASSERT_LE(s.mbu, 1) << setup;
    }
    for (const char* name : {"mfu_mean", "mbu_mean"}) {
      EXPECT_GT(r.summary.get(name), 0) << setup << name;
      EXPECT_LE(r.summary.get(name), 1) << setup << name;
    }
  }
}

// Every sampled token after a sample's first has its gap, and with one sample the gaps add up
// to the time from the first token to the last.
TEST(Simulation, InterTokenGapsCoverEveryTokenAfterTheFirst) {
  const RunResult r = run_one(paper_setup("[memory]\npolicy = paged\ncapacity_slots = 4096\n"));
  ASSERT_GT(r.summary.get("num_preemptions"), 0);
  for (const RequestRecord& q : r.requests) {
    if (q.outcome != RequestOutcome::kFinished) continue;
    ASSERT_EQ(static_cast<int64_t>(q.itl_s.size()), q.generated_tokens - q.n) << q.id;
    double sum = 0;
    for (float gap : q.itl_s) {
      ASSERT_GT(gap, 0) << q.id;
      sum += gap;
    }
    EXPECT_NEAR(sum, q.finish_s - q.first_token_s, 1e-5 * (1 + q.finish_s)) << q.id;
  }
  EXPECT_GT(r.summary.get("itl_p99_s"), r.summary.get("itl_p50_s"));
}

TEST(Simulation, ImpossibleConfigsNameTheirKey) {
  auto message = [](const std::string& ini) {
    try {
      resolve_experiment(Config::parse("[workload]\nnum_requests = 10\n" + ini, "bad.ini"));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message("[model]\nname = llama-2-70b\n[hardware]\nname = a10g\n").find("no room for a KV cache"),
            std::string::npos);
  EXPECT_NE(message("[model]\nname = gpt-5\n").find("bad.ini:4: field 'model.name'"), std::string::npos);
  EXPECT_NE(message("[model]\ntensor_parallel = 3\n").find("model.tensor_parallel"), std::string::npos);
  EXPECT_NE(message("rate = -1\n").find("bad.ini:3: field 'workload.rate'"), std::string::npos);
}

// The virtual manager through the whole simulator: every page it maps is counted in the step
// whose plan mapped it, priced there by the roofline's vmm term (pages x the per-page default
// for the page size), and its virtual reservation is reported beside, not inside, the
// breakdown. Other policies list no vmm term and count no pages.
TEST(Simulation, VirtualMemoryPagesArePricedInTheStepThatMappedThem) {
  const RunResult r = e2e::run_one(paper_setup("[memory]\npolicy = virtual\npage_size = 64KiB\n"));
  ASSERT_TRUE(r.virtual_memory.enabled);
  EXPECT_EQ(r.virtual_memory.tokens_per_page, 6);  // 64 KiB / 10 KiB of OPT-13B
  const auto vmm = std::find(r.term_names.begin(), r.term_names.end(), "vmm");
  ASSERT_NE(vmm, r.term_names.end());
  const auto index = static_cast<size_t>(vmm - r.term_names.begin());
  int64_t mapped = 0;
  int64_t unmapped = 0;
  int64_t reserving_steps = 0;
  for (const StepRecord& s : r.steps) {
    mapped += s.vmm_pages_mapped;
    unmapped += s.vmm_pages_unmapped;
    EXPECT_EQ(s.vmm_pages_mapped % 80, 0);  // page groups of 2 x 40 layers
    EXPECT_NEAR(s.terms[index], (s.vmm_pages_mapped + s.vmm_pages_unmapped) * 8e-6, 1e-12);
    EXPECT_EQ(s.kv_virtual_reserved % r.virtual_memory.range_slots, 0);
    reserving_steps += s.kv_virtual_reserved > 0 ? 1 : 0;
  }
  EXPECT_GT(mapped, 0);
  EXPECT_EQ(mapped, r.virtual_memory.pages_mapped);  // every mapping happens while planning
  // What the last step's finished requests let go of is unmapped after its record.
  EXPECT_LE(unmapped, r.virtual_memory.pages_unmapped);
  EXPECT_EQ(r.virtual_memory.pages_mapped, r.virtual_memory.pages_unmapped);  // all released
  EXPECT_GT(reserving_steps, 0);

  const RunResult paged = e2e::run_one(paper_setup("[memory]\npolicy = paged\n"));
  EXPECT_EQ(std::find(paged.term_names.begin(), paged.term_names.end(), "vmm"),
            paged.term_names.end());
  for (const StepRecord& s : paged.steps) EXPECT_EQ(s.vmm_pages_mapped + s.kv_virtual_reserved, 0);
}

// Pipeline parallelism end to end (docs/parallelism.md): two stages hold half the layers each,
// so the same per-GPU KV budget holds twice the slots; every request still finishes; the
// step table gains the pipeline terms, which with one sequence in flight are not zero.
TEST(Simulation, TwoPipelineStagesDoubleTheSlotsAndShowTheirTerms) {
  const RunResult one = run_one(paper_setup(""));
  const RunResult two = run_one(paper_setup("[model]\npipeline_parallel = 2\n"));
  EXPECT_EQ(two.summary.get("kv_capacity_slots"), 2 * one.summary.get("kv_capacity_slots"));
  EXPECT_DOUBLE_EQ(two.summary.get("num_finished"), two.summary.get("num_requests"));
  const auto& names = two.term_names;
  const auto send = std::find(names.begin(), names.end(), "pipeline_send");
  const auto bubble = std::find(names.begin(), names.end(), "pipeline_bubble");
  ASSERT_NE(send, names.end());
  ASSERT_NE(bubble, names.end());
  EXPECT_EQ(std::find(one.term_names.begin(), one.term_names.end(), "pipeline_send"),
            one.term_names.end());
  double sent = 0;
  for (const StepRecord& s : two.steps) {
    sent += s.terms[static_cast<size_t>(send - names.begin())];
    ASSERT_GE(s.terms[static_cast<size_t>(bubble - names.begin())], 0);
  }
  EXPECT_GT(sent, 0);
}

}  // namespace
}  // namespace kvlab
