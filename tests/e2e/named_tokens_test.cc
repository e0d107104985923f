// Real back ends and named tokens (app/experiment_runner.h requests_for_backend): prompt ids of
// named tokens are functions of their names, so requests sharing names share ids and a real
// back end's prefix cache finds the blocks the simulator's names share, without changing what
// the model generates.
#include <gtest/gtest.h>

#include "app/experiment_runner.h"
#include "core/experiment.h"
#include "tests/run_test_util.h"

namespace kvlab {
namespace {

using e2e::run_one;
using e2e::tokens_of;

ExperimentConfig resolved(const std::string& backend) {
  return resolve_experiment(
      Config::parse("[workload]\nnum_requests = 1\narrival = burst\n[model]\nname = tiny-llama\n"
                    "[hardware]\nname = a10g\n[backend]\nkind = " +
                        backend + "\n",
                    "named_tokens_test.ini"));
}

RequestSpec named(RequestId id, int32_t prompt_len, std::vector<uint64_t> names, int32_t unit,
                  int32_t named_len) {
  RequestSpec r;
  r.id = id;
  r.prompt_len = prompt_len;
  r.output_len = 4;
  r.prefix_hashes = std::move(names);
  r.prefix_hash_tokens = unit;
  r.named_len = named_len;
  return r;
}

TEST(NamedTokens, EqualNamesGiveEqualLeadingIdsAndOwnIdsAfter) {
  const ExperimentConfig cpu = resolved("cpu");
  const std::vector<RequestSpec> out =
      requests_for_backend(cpu, {named(0, 100, {7, 8}, 32, 60), named(1, 120, {7, 8}, 32, 60),
                                 named(2, 100, {7, 9}, 32, 60), named(3, 100, {}, 512, 0)});
  ASSERT_EQ(out[0].prompt_tokens.size(), 100u);
  ASSERT_EQ(out[1].prompt_tokens.size(), 120u);
  for (size_t p = 0; p < 60; ++p) {
    EXPECT_EQ(out[0].prompt_tokens[p], out[1].prompt_tokens[p]) << p;
  }
  int32_t differ = 0;
  for (size_t p = 60; p < 100; ++p) differ += out[0].prompt_tokens[p] != out[1].prompt_tokens[p];
  EXPECT_GT(differ, 30);  // the requests' own tokens (tiny-llama's 256 ids: rarely equal)
  // Entry 1 differs: ids agree over entry 0 only.
  for (size_t p = 0; p < 32; ++p) EXPECT_EQ(out[0].prompt_tokens[p], out[2].prompt_tokens[p]);
  differ = 0;
  for (size_t p = 32; p < 60; ++p) differ += out[0].prompt_tokens[p] != out[2].prompt_tokens[p];
  EXPECT_GT(differ, 20);
  // An unnamed request keeps its per-request ids.
  const std::vector<RequestSpec> plain = requests_for_backend(cpu, {named(3, 100, {}, 512, 0)});
  EXPECT_EQ(plain[0].prompt_tokens, out[3].prompt_tokens);
  // The simulator's requests are left without ids.
  const std::vector<RequestSpec> sim =
      requests_for_backend(resolved("sim"), {named(0, 10, {1}, 8, 8)});
  EXPECT_TRUE(sim[0].prompt_tokens.empty());
}

// A shared system prompt on the CPU back end: later requests find its blocks cached, and
// greedy outputs are those of a run without prefix caching.
TEST(NamedTokens, ASharedSystemPromptHitsTheCpuBackEndsCache) {
  const std::string workload =
      "[workload]\nnum_requests = 6\narrival = burst\nprompt_len = 80\noutput_len = 8\n"
      "shared_prefix_len = 48\nseed = 3\n"
      "[model]\nname = tiny-llama\nmax_seq_len = 256\n[hardware]\nname = a10g\n"
      // One request at a time: its blocks are computed before the next one looks.
      "[backend]\nkind = cpu\n[scheduler]\nmax_num_seqs = 1\n"
      "[memory]\nblock_size = 16\ncapacity_slots = 4096\nswap_space_gb = 0\n";
  const RunResult cached = run_one(Config::parse(workload + "prefix_caching = true\n", "a.ini"));
  const RunResult plain = run_one(Config::parse(workload, "b.ini"));
  EXPECT_EQ(tokens_of(cached), tokens_of(plain));
  int64_t hits = 0;
  for (const RequestRecord& q : cached.requests) {
    if (q.id > 0) {
      EXPECT_EQ(q.cached_prompt_tokens, 48) << q.id;
    }
    hits += q.cached_tokens;
  }
  EXPECT_EQ(hits, 5 * 48);
}

}  // namespace
}  // namespace kvlab
