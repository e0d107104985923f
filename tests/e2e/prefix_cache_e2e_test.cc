// Prefix caching end to end (memory.prefix_caching = true): the measured hit rates against an
// expectation worked out here from the requests' names alone, a workload without shared
// prefixes running exactly as without the cache, shared prefixes saving prefill time, and the
// CPU back end generating the same tokens when it skips the prefill of cached blocks (its
// attention then reads KV that another request computed). Every run audits the manager after
// every step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "app/experiment_runner.h"
#include "app/resolve_experiment.h"
#include "core/block_hash.h"
#include "core/engine.h"
#include "core/errors.h"
#include "tests/run_test_util.h"

namespace kvlab {
namespace {

using e2e::tokens_of;

// `specs` (sorted by arrival) run on the point `ini` describes, with the manager audited after
// every step; real back ends get their sampling settings as run_experiment gives them.
RunResult run_specs(const std::string& ini, const std::vector<RequestSpec>& specs) {
  const ExperimentConfig e = resolve_experiment(Config::parse(ini, "prefix_cache_e2e.ini"));
  validate_engine_config(e);
  std::unique_ptr<Engine> engine = make_engine(e);
  engine->set_audit_every_step(true);
  return engine->run(requests_for_backend(e, specs));
}

// The one point `c` describes, its workload loaded as the CLI would, audited every step.
RunResult run_audited(const Config& c) {
  RunOptions options;
  options.audit_every_step = true;
  std::vector<RunResult> results = run_experiment(c, options);
  EXPECT_EQ(results.size(), 1u);
  return std::move(results.front());
}

std::string with_cache(const std::string& ini, bool on) {
  return ini + "[memory]\nprefix_caching = " + (on ? "true" : "false") + "\n";
}

// A simulated request named as a Mooncake row is: 512 tokens an entry, the prompt named.
RequestSpec named(RequestId id, double arrival_s, int32_t prompt_len, int32_t output_len,
                  std::vector<uint64_t> hashes) {
  RequestSpec s;
  s.id = id;
  s.arrival_s = arrival_s;
  s.prompt_len = prompt_len;
  s.output_len = output_len;
  s.prefix_hashes = std::move(hashes);
  s.prefix_hash_tokens = 512;
  s.named_len = prompt_len;
  return s;
}

// The prompt tokens of each request an unbounded cache serves when the requests run one
// after another, from the names alone: request r finds block j (tokens [16j, 16j + 16)) when
// an earlier request q held it, that is q's prompt covers the whole block and the two agree
// on every entry up to the one holding the block's last token; at most (P - 1) / 16 blocks,
// so the last prompt token is computed. 512 / 16 = 32 blocks per entry.
std::vector<int64_t> expected_cached_tokens(const std::vector<RequestSpec>& specs) {
  constexpr int32_t kBlock = 16, kBlocksPerEntry = 512 / kBlock;
  std::vector<int64_t> out;
  for (size_t r = 0; r < specs.size(); ++r) {
    const RequestSpec& a = specs[r];
    int64_t best = 0;
    for (size_t q = 0; q < r; ++q) {
      const RequestSpec& b = specs[q];
      size_t agree = 0;
      while (agree < a.prefix_hashes.size() && agree < b.prefix_hashes.size() &&
             a.prefix_hashes[agree] == b.prefix_hashes[agree]) {
        ++agree;
      }
      const int64_t blocks = std::min<int64_t>({(a.prompt_len - 1) / kBlock, b.prompt_len / kBlock,
                                                static_cast<int64_t>(agree) * kBlocksPerEntry});
      best = std::max(best, blocks);
    }
    out.push_back(best * kBlock);
  }
  return out;
}

// Three families of prefixes that share one, two or three entries, exact repeats, a longer
// prompt over the same entries, and strangers. 200 s apart: each request has finished before
// the next arrives.
std::vector<RequestSpec> mooncake_like_requests() {
  const std::vector<std::vector<uint64_t>> names = {
      {11, 12, 13}, {11, 12, 21},         {11, 12, 13, 14}, {31},        {31},
      {11, 41},     {11, 12, 13, 14},     {11, 12, 13, 14}, {51, 52},    {51, 52},
      {51, 53},     {11, 12, 13, 14, 15}, {61, 62, 63},     {11, 12, 13}};
  const std::vector<int32_t> prompt = {1500, 1400, 1800, 300,  300,  900,  1800,
                                       2000, 1024, 1024, 1100, 2100, 1200, 1536};
  std::vector<RequestSpec> specs;
  for (size_t i = 0; i < names.size(); ++i) {
    specs.push_back(named(static_cast<RequestId>(i), 200.0 * static_cast<double>(i), prompt[i],
                          8 + static_cast<int32_t>(i % 5), names[i]));
  }
  return specs;
}

const std::string kSimModel =
    "[model]\nname = llama-2-7b\n[hardware]\nname = a100-40gb\n"
    "[memory]\npolicy = paged\nblock_size = 16\n";
const std::string kSim = kSimModel + "capacity_slots = 60000\n";

// ---- g. configuration ------------------------------------------------------------------------

TEST(PrefixCacheConfig, ContiguousWithPrefixCachingIsRefusedNamingTheKey) {
  try {
    resolve_experiment(
        Config::parse("[memory]\npolicy = contiguous\nprefix_caching = true\n", "pc.ini"));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "memory.prefix_caching") << e.what();
    EXPECT_EQ(e.source(), "pc.ini");
    EXPECT_EQ(e.line(), 3);
    EXPECT_NE(e.reason().find("contiguous"), std::string::npos) << e.what();
  }
  // Through --set too, and fine with paged.
  Config c;
  c.set_override("memory.policy=contiguous");
  c.set_override("memory.prefix_caching=true");
  try {
    resolve_experiment(c);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "memory.prefix_caching") << e.what();
  }
  EXPECT_NO_THROW(resolve_experiment(
      Config::parse("[memory]\npolicy = paged\nprefix_caching = true\n", "pc.ini")));
}

// ---- h. hit rates against the unbounded bound and the names -------------------------------

TEST(PrefixCacheSim, RequestsOneAtATimeReachTheUnboundedBoundAndTheNamesExpectation) {
  const std::vector<RequestSpec> specs = mooncake_like_requests();
  const RunResult r = run_specs(with_cache(kSim, true), specs);
  ASSERT_TRUE(r.prefix_cache.enabled);
  EXPECT_EQ(r.prefix_cache.evicted_blocks, 0) << "the capacity holds every block";
  EXPECT_EQ(r.summary.get("num_evicted_blocks"), 0);
  EXPECT_EQ(r.summary.get("num_preemptions"), 0);

  const std::vector<int64_t> expected = expected_cached_tokens(specs);
  int64_t prompt_tokens = 0, cached = 0, lookable_blocks = 0;
  ASSERT_EQ(r.requests.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(r.requests[i].outcome, RequestOutcome::kFinished);
    EXPECT_EQ(r.requests[i].cached_prompt_tokens, expected[i]) << "request " << i;
    EXPECT_EQ(r.requests[i].cached_tokens, expected[i]) << "request " << i;
    prompt_tokens += specs[i].prompt_len;
    cached += expected[i];
    lookable_blocks += (specs[i].prompt_len - 1) / 16;
  }
  ASSERT_GT(cached, 0);
  // Spot checks of the expectation itself: a stranger finds nothing, an exact repeat all but
  // its last token's block, a request whose earlier twin has a shorter prompt that one's blocks.
  EXPECT_EQ(expected[3], 0);
  EXPECT_EQ(expected[4], 16 * (299 / 16));
  EXPECT_EQ(expected[6], 16 * (1799 / 16));
  EXPECT_EQ(expected[7], 16 * (1800 / 16));
  EXPECT_EQ(expected[1], 2 * 512);  // agrees with request 0 on two entries

  const double token_rate = static_cast<double>(cached) / static_cast<double>(prompt_tokens);
  EXPECT_DOUBLE_EQ(r.summary.get("prefix_hit_rate"), token_rate);
  EXPECT_DOUBLE_EQ(r.summary.get("prefix_hit_rate_bound"), token_rate);
  EXPECT_DOUBLE_EQ(r.summary.get("prefill_tokens_saved"), static_cast<double>(cached));
  // Blocks: measured and bound agree, and both equal the names' expectation.
  EXPECT_EQ(r.prefix_bound.prompt_blocks, lookable_blocks);
  EXPECT_EQ(r.prefix_bound.hit_blocks, cached / 16);
  EXPECT_EQ(r.prefix_bound.hit_tokens, cached);
  EXPECT_DOUBLE_EQ(r.summary.get("prefix_block_hit_rate"),
                   static_cast<double>(r.prefix_bound.hit_blocks) /
                       static_cast<double>(r.prefix_bound.prompt_blocks));
  // Per step: hits add up, only full blocks are cached, and a prompt's prefill computes only
  // what was not found (one request at a time: its prefill step computes P - cached tokens).
  int64_t step_hits = 0, prefilled = 0;
  for (const StepRecord& s : r.steps) {
    step_hits += s.cache_hit_blocks;
    prefilled += s.prefill_tokens;
    EXPECT_EQ(s.memory.sum(), s.memory.capacity);
    EXPECT_EQ(s.memory.cached % 16, 0);
    if (s.num_prefill_seqs == 1) {
      EXPECT_EQ(s.num_decode_seqs, 0) << "requests run one at a time";
    }
  }
  EXPECT_EQ(step_hits, cached / 16);
  EXPECT_EQ(prefilled, prompt_tokens - cached);
  EXPECT_EQ(r.prefix_cache.hit_blocks, cached / 16);
}

// A conversation (RequestSpec::follows): each turn's prompt is the previous turn's prompt and
// answer, then new text; one entry names the whole conversation, answers included (named_len
// passes prompt_len). A turn finds the blocks its predecessor computed: its prompt and answer
// but the answer's last token, which is sampled and never run. Two conversations, whose
// turns' prompt + answer do and do not end on a block boundary.
TEST(PrefixCacheSim, ConversationTurnsFindWhatTheTurnBeforeComputedAndTheBoundAgrees) {
  struct Turn {
    int32_t new_tokens;
    int32_t output_len;
  };
  const std::vector<std::vector<Turn>> conversations = {
      {{100, 60}, {40, 30}, {20, 10}},  // 160 = 10 blocks, 230, 260
      {{90, 37}, {33, 50}, {17, 12}}};  // 127, 210, 239
  std::vector<RequestSpec> specs;
  std::vector<int64_t> expected;
  RequestId id = 0;
  for (size_t c = 0; c < conversations.size(); ++c) {
    int32_t before = 0;  // prompt + answer of the turn before
    for (size_t t = 0; t < conversations[c].size(); ++t) {
      const Turn& turn = conversations[c][t];
      RequestSpec s;
      s.id = id++;
      s.arrival_s = 1000.0 * static_cast<double>(c);
      s.prompt_len = before + turn.new_tokens;
      s.output_len = turn.output_len;
      s.prefix_hashes = {700 + c};
      s.prefix_hash_tokens = 1 << 20;
      s.named_len = s.prompt_len + s.output_len;
      if (t > 0) {
        s.follows = s.id - 1;
        s.think_time_s = 30.0;
      }
      // Computed before: before - 1 tokens (the last answer token never runs), whole blocks;
      // at most the blocks below this prompt's last token.
      expected.push_back(t == 0 ? 0 : 16 * std::min((before - 1) / 16, (s.prompt_len - 1) / 16));
      before = s.prompt_len + s.output_len;
      specs.push_back(s);
    }
  }
  const RunResult r = run_specs(with_cache(kSim, true), specs);
  int64_t cached = 0, prompt_tokens = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(r.requests[i].outcome, RequestOutcome::kFinished);
    EXPECT_EQ(r.requests[i].cached_prompt_tokens, expected[i]) << "turn " << i;
    cached += expected[i];
    prompt_tokens += specs[i].prompt_len;
  }
  EXPECT_EQ(expected[1], 144) << "9 blocks: the 10th holds the answer's last token";
  EXPECT_EQ(r.prefix_bound.hit_tokens, cached);
  EXPECT_DOUBLE_EQ(r.summary.get("prefix_hit_rate"),
                   static_cast<double>(cached) / static_cast<double>(prompt_tokens));
  EXPECT_DOUBLE_EQ(r.summary.get("prefix_hit_rate_bound"), r.summary.get("prefix_hit_rate"));
  EXPECT_DOUBLE_EQ(r.summary.get("prefix_block_hit_rate"),
                   static_cast<double>(r.prefix_bound.hit_blocks) /
                       static_cast<double>(r.prefix_bound.prompt_blocks));
}

// ---- i. nothing shared: nothing changes ------------------------------------------------------

// The summaries of a run with and without the cache, equal field by field except the cache's
// own: the hit rates (NaN or 0 without it), the blocks it gave up, and its share of memory,
// which without the cache is free memory (so kv_cached_frac + kv_free_frac agree).
void expect_same_but_cache_fields(const RunResult& on, const RunResult& off) {
  for (const auto& [key, v_off] : off.summary.values) {
    const double v_on = on.summary.get(key);
    if (key == "wall_s") continue;
    if (key == "prefix_block_hit_rate" || key == "prefix_hit_rate_bound") {
      EXPECT_TRUE(std::isnan(v_off)) << key;
      EXPECT_EQ(v_on, 0.0) << key;
    } else if (key == "kv_cached_frac" || key == "kv_free_frac" || key == "num_evicted_blocks") {
      continue;
    } else {
      EXPECT_TRUE(v_on == v_off || (std::isnan(v_on) && std::isnan(v_off)))
          << key << ": " << v_on << " with the cache, " << v_off << " without";
    }
  }
  EXPECT_EQ(off.summary.get("kv_cached_frac"), 0.0);
  EXPECT_NEAR(on.summary.get("kv_cached_frac") + on.summary.get("kv_free_frac"),
              off.summary.get("kv_free_frac"), 1e-12);
  EXPECT_EQ(on.summary.get("prefix_hit_rate"), 0.0);
  EXPECT_EQ(on.summary.get("prefill_tokens_saved"), 0.0);
  ASSERT_EQ(on.steps.size(), off.steps.size());
  for (size_t i = 0; i < on.steps.size(); ++i) {
    EXPECT_EQ(on.steps[i].time_s, off.steps[i].time_s) << "step " << i;
    EXPECT_EQ(on.steps[i].batch_size, off.steps[i].batch_size) << "step " << i;
    EXPECT_EQ(on.steps[i].memory.free + on.steps[i].memory.cached, off.steps[i].memory.free)
        << "step " << i;
  }
}

TEST(PrefixCacheSim, WithoutSharedPrefixesTheCacheChangesNothing) {
  const std::string ini =
      "[workload]\nnum_requests = 150\narrival = poisson\nrate = 8\nprompt_len = uniform:50:900\n"
      "output_len = uniform:10:200\nseed = 5\n"
      "[model]\nname = llama-2-7b\n[hardware]\nname = a100-40gb\n"
      "[memory]\npolicy = paged\nblock_size = 16\n";
  // Plenty of memory, and so little that groups are swapped out (whose cached blocks then
  // become evictable and are given up to whoever needs them).
  for (const std::string& extra :
       {std::string("[memory]\ncapacity_slots = 60000\n"),
        std::string("[memory]\ncapacity_slots = 3000\nswap_space_gb = 4\n"
                    "[scheduler]\npreemption = swap\n")}) {
    const RunResult on = run_audited(Config::parse(with_cache(ini + extra, true), "on.ini"));
    const RunResult off = run_audited(Config::parse(with_cache(ini + extra, false), "off.ini"));
    SCOPED_TRACE(extra);
    EXPECT_EQ(on.summary.get("num_finished"), 150);
    expect_same_but_cache_fields(on, off);
    if (extra.find("swap") != std::string::npos) {
      EXPECT_GT(on.summary.get("num_preemptions"), 0);
      EXPECT_GT(on.summary.get("num_evicted_blocks"), 0) << "the cache gave blocks up";
    }
  }
}

// ---- j. shared prefixes: prefill saved, faster ------------------------------------------------

// Requests under load that share a 1024-token system prompt (two entries), then have their own.
std::vector<RequestSpec> shared_system_prompt_requests(int n, double rate) {
  std::vector<RequestSpec> specs;
  uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  double t = 0;
  for (int i = 0; i < n; ++i) {
    t += -std::log(1.0 - static_cast<double>(next() % 1000000) / 1000000.0) / rate;
    const int32_t own = 50 + static_cast<int32_t>(next() % 900);
    const int32_t prompt = 1024 + own;
    std::vector<uint64_t> hashes = {7, 8};
    for (int32_t e = 2; e * 512 < prompt; ++e) hashes.push_back(1000 + 10 * i + e);
    specs.push_back(named(i, t, prompt, 20 + static_cast<int32_t>(next() % 150), hashes));
  }
  return specs;
}

TEST(PrefixCacheSim, SharedPrefixesSavePrefillAndNeverSlowTheRun) {
  for (const char* memory : {"[memory]\ncapacity_slots = 60000\n",
                             "[memory]\ncapacity_slots = 8000\n[scheduler]\npreemption = "
                             "recompute\n"}) {
    SCOPED_TRACE(memory);
    const std::vector<RequestSpec> specs = shared_system_prompt_requests(120, 6.0);
    const std::string ini = kSimModel + memory;
    const RunResult on = run_specs(with_cache(ini, true), specs);
    const RunResult off = run_specs(with_cache(ini, false), specs);
    EXPECT_EQ(on.summary.get("num_finished"), 120);
    EXPECT_EQ(off.summary.get("num_finished"), 120);
    EXPECT_GT(on.summary.get("prefill_tokens_saved"), 0);
    EXPECT_GT(on.summary.get("prefix_hit_rate"), 0.5);
    EXPECT_LE(on.summary.get("prefix_hit_rate"), on.summary.get("prefix_hit_rate_bound"));
    EXPECT_EQ(off.summary.get("prefill_tokens_saved"), 0);
    EXPECT_GE(on.summary.get("throughput_tok_s"), off.summary.get("throughput_tok_s"));
    EXPECT_GE(on.summary.get("throughput_req_s"), off.summary.get("throughput_req_s"));
    EXPECT_LE(on.summary.get("ttft_p50_s"), off.summary.get("ttft_p50_s"));
    EXPECT_EQ(on.summary.get("generated_tokens"), off.summary.get("generated_tokens"));
    int64_t prefill_on = 0, prefill_off = 0;
    for (const StepRecord& s : on.steps) prefill_on += s.prefill_tokens;
    for (const StepRecord& s : off.steps) prefill_off += s.prefill_tokens;
    if (on.summary.get("num_preemptions") == 0 && off.summary.get("num_preemptions") == 0) {
      // Each prompt is prefilled once: what the cache served is exactly what was not computed.
      EXPECT_EQ(prefill_off - prefill_on,
                static_cast<int64_t>(on.summary.get("prefill_tokens_saved")));
    }
    EXPECT_LT(prefill_on, prefill_off);
  }
}

// ---- k. the CPU back end reads shared cached KV right ----------------------------------------

// tiny-llama (vocab 256, context 256), all requests at t = 0: the schedule does not depend on
// measured step times, so which requests hit is the same on every run.
std::string cpu_ini(const std::string& extra) {
  return "[model]\nname = tiny-llama\nmax_seq_len = 256\n[hardware]\nname = a10g\n"
         "[memory]\npolicy = paged\nswap_space_gb = 0.002\n[backend]\nkind = cpu\n" +
         extra;
}

std::vector<int32_t> token_run(uint64_t seed, int32_t count) {
  std::vector<int32_t> out;
  for (int32_t i = 0; i < count; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    out.push_back(static_cast<int32_t>((seed >> 33) % 256));
  }
  return out;
}

RequestSpec with_tokens(RequestId id, std::vector<int32_t> prompt, int32_t output_len) {
  RequestSpec s;
  s.id = id;
  s.prompt_len = static_cast<int32_t>(prompt.size());
  s.output_len = output_len;
  s.prompt_tokens = std::move(prompt);
  return s;
}

std::vector<int32_t> concat_tokens(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<RequestSpec> identical_prompts() {
  const std::vector<int32_t> prompt = token_run(1, 70);
  std::vector<RequestSpec> specs;
  for (int i = 0; i < 12; ++i) specs.push_back(with_tokens(i, prompt, 12 + (i * 7) % 40));
  return specs;
}

std::vector<RequestSpec> shared_system_prompt() {
  const std::vector<int32_t> system = token_run(2, 48);
  std::vector<RequestSpec> specs;
  for (int i = 0; i < 16; ++i) {
    std::vector<int32_t> prompt = system;
    const std::vector<int32_t> own = token_run(100 + static_cast<uint64_t>(i), 5 + (i * 13) % 56);
    prompt.insert(prompt.end(), own.begin(), own.end());
    specs.push_back(with_tokens(i, prompt, 10 + (i * 11) % 45));
  }
  return specs;
}

struct CpuCase {
  const char* name;
  const char* config;
  bool expect_preemption;
  bool expect_swaps;
  bool expect_parallel_preemption;  // with the smaller parallel-sampling workload
  friend void PrintTo(const CpuCase& c, std::ostream* os) { *os << c.name; }
};

class PrefixCacheCpu : public ::testing::TestWithParam<CpuCase> {};

TEST_P(PrefixCacheCpu, GreedyTokensAreTheSameWithTheCacheOnAndOff) {
  const CpuCase& c = GetParam();
  for (const auto& [workload, specs] :
       {std::pair{"identical prompts", identical_prompts()},
        std::pair{"shared system prompt", shared_system_prompt()}}) {
    SCOPED_TRACE(workload);
    const RunResult on = run_specs(with_cache(cpu_ini(c.config), true), specs);
    const RunResult off = run_specs(with_cache(cpu_ini(c.config), false), specs);
    ASSERT_TRUE(on.has_token_ids);
    EXPECT_EQ(tokens_of(on), tokens_of(off));
    EXPECT_EQ(on.output_digest, off.output_digest);
    int hits = 0;
    for (const RequestRecord& q : on.requests) hits += q.cached_prompt_tokens > 0 ? 1 : 0;
    EXPECT_GE(hits, 4) << "requests must have found cached prompt blocks";
    EXPECT_GT(on.summary.get("prefill_tokens_saved"), 0);
    int64_t swaps = 0;
    for (const RequestRecord& q : on.requests) swaps += q.num_swaps;
    if (c.expect_preemption) {
      EXPECT_GT(on.summary.get("num_preemptions"), 0);
    }
    if (c.expect_swaps) {
      EXPECT_GT(swaps, 0);
    }
  }
}

// Parallel samples (n = 2) drawn at temperature 0.8: each sample's draws are seeded by
// (request, sample, position), so they too must not depend on what the cache served. Forked
// samples share the cached prompt blocks; re-admitted after recompute, each looks up its own.
// Short enough that a re-admitted group (each sample in blocks of its own) still fits.
TEST_P(PrefixCacheCpu, RandomParallelSamplesAreTheSameWithTheCacheOnAndOff) {
  const CpuCase& c = GetParam();
  const std::vector<int32_t> system = token_run(3, 48);
  std::vector<RequestSpec> specs;
  for (int i = 0; i < 10; ++i) {
    RequestSpec s = with_tokens(
        i, concat_tokens(system, token_run(200 + static_cast<uint64_t>(i), 5 + (i * 7) % 16)),
        8 + (i * 5) % 23);
    s.n = 2;
    specs.push_back(std::move(s));
  }
  const std::string ini = cpu_ini(c.config) + "[backend]\ntemperature = 0.8\ntop_k = 50\n";
  const RunResult on = run_specs(with_cache(ini, true), specs);
  const RunResult off = run_specs(with_cache(ini, false), specs);
  EXPECT_EQ(tokens_of(on), tokens_of(off));
  EXPECT_EQ(on.output_digest, off.output_digest);
  EXPECT_GT(on.summary.get("prefill_tokens_saved"), 0);
  for (const RequestRecord& q : on.requests) {
    ASSERT_EQ(q.token_ids.size(), 2u);
    EXPECT_NE(q.token_ids[0], q.token_ids[1]) << "request " << q.id << ": samples must differ";
  }
  if (c.expect_parallel_preemption) {
    EXPECT_GT(on.summary.get("num_preemptions"), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Memory, PrefixCacheCpu,
    ::testing::Values(CpuCase{"roomy_bs16",
                              "[memory]\nblock_size = 16\ncapacity_slots = 4096\n"
                              "[scheduler]\nmax_num_seqs = 4\n",
                              false, false, false},
                      CpuCase{"swap_bs8",
                              "[memory]\nblock_size = 8\ncapacity_slots = 240\n"
                              "[scheduler]\nmax_num_seqs = 8\npreemption = swap\n",
                              true, true, true},
                      CpuCase{"recompute_bs8",
                              "[memory]\nblock_size = 8\ncapacity_slots = 240\n"
                              "[scheduler]\nmax_num_seqs = 8\npreemption = recompute\n",
                              true, false, true},
                      CpuCase{"chunked_bs16",
                              "[memory]\nblock_size = 16\ncapacity_slots = 400\n"
                              "[scheduler]\nmax_num_seqs = 8\nchunk_size = 24\n"
                              "max_batched_tokens = 64\npreemption = swap\n",
                              true, false, false}),
    [](const ::testing::TestParamInfo<CpuCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kvlab
