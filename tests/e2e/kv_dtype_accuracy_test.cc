// Accuracy of the quantized KV cache, measured (memory.kv_dtype on the cpu back end), on the
// tiny models of experiments/cpu_tiny.ini (tiny-llama) and cpu_tiny_opt.ini (tiny-opt):
//
//  logits     teacher-forced: 32 seeded prompts (16..120 tokens) each continued by the fp32
//             cache's 48 greedy tokens; at every one of those 49 positions the logits under
//             each dtype are compared with the fp32 cache's: the largest absolute error, the
//             mean absolute error over all logits (both relative to the mean |logit|), and the
//             share of positions whose argmax (the greedy token) agrees.
//  greedy     free-running: the whole experiment INI (32 requests, swap preemption) run at each
//             dtype through the engine; the share of requests whose generated tokens all equal
//             the fp32 run's, and the share of output tokens before each request's first
//             divergence.
//
// The figures print as a table (copied into docs/reproduction.md); the assertions are sanity
// bounds far from the measured values, so they catch a broken conversion, not noise:
//   build/default/tests/e2e/e2e_kv_dtype_accuracy_test
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "app/resolve_experiment.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/model/decoder_model.h"
#include "kernels/model/weight_source.h"
#include "tests/e2e/e2e_util.h"
#include "tests/run_test_util.h"

namespace kvlab {
namespace {

constexpr int kPrompts = 32;
constexpr int kNewTokens = 48;

struct LogitFigures {
  double max_abs_rel = 0;   // max |logit - ref| / mean |ref logit|
  double mean_abs_rel = 0;  // mean |logit - ref| / mean |ref logit|
  double top1_agreement = 0;
};

int argmax(const cpu::RowMatrix& row) {
  Eigen::Index at = 0;
  row.row(0).maxCoeff(&at);
  return static_cast<int>(at);
}

// The logits of every position from the prompt's last on, for prompt + continuation, one
// sequence at a time in a fresh cache of `dtype` (contiguous slots 0..n).
std::vector<cpu::RowMatrix> logits_of(const ModelSpec& spec, uint64_t weights_seed, KvDtype dtype,
                                      const std::vector<int32_t>& prompt,
                                      const std::vector<int32_t>& continuation,
                                      std::vector<int32_t>* greedy = nullptr) {
  ModelSpec s = spec;
  s.kv_dtype = dtype;
  const std::unique_ptr<DecoderModel> model = make_decoder_model(s, DummyWeightSource(weights_seed));
  const int32_t total = static_cast<int32_t>(prompt.size()) + kNewTokens;
  cpu::CpuKvCache cache = model->make_kv_cache(total);
  KvLayout layout;
  layout.kind = KvLayout::Kind::kContiguous;
  layout.base_slot = 0;
  layout.reserved_slots = total;
  std::vector<cpu::RowMatrix> out;
  std::vector<int32_t> tokens = prompt;
  ForwardEntry entry{prompt, 0, layout, true};
  for (int i = 0; i <= kNewTokens; ++i) {
    out.push_back(model->forward(std::vector<ForwardEntry>{entry}, cache));
    if (i == kNewTokens) break;
    const int32_t next = greedy ? argmax(out.back()) : continuation[static_cast<size_t>(i)];
    if (greedy) greedy->push_back(next);
    entry = ForwardEntry{{next}, static_cast<int32_t>(tokens.size()), layout, true};
    tokens.push_back(next);
  }
  return out;
}

LogitFigures measure_logits(const ModelSpec& spec, uint64_t weights_seed, KvDtype dtype) {
  std::mt19937_64 rng(2026);
  double max_abs = 0, sum_abs = 0, sum_ref = 0, count = 0, agree = 0, positions = 0;
  for (int p = 0; p < kPrompts; ++p) {
    std::vector<int32_t> prompt(16 + rng() % 105);
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng() % spec.vocab_size);
    std::vector<int32_t> reference_tokens;
    const std::vector<cpu::RowMatrix> ref =
        logits_of(spec, weights_seed, KvDtype::kFp32, prompt, {}, &reference_tokens);
    const std::vector<cpu::RowMatrix> got =
        logits_of(spec, weights_seed, dtype, prompt, reference_tokens);
    for (size_t i = 0; i < ref.size(); ++i) {
      const cpu::RowMatrix diff = (got[i] - ref[i]).cwiseAbs();
      max_abs = std::max<double>(max_abs, diff.maxCoeff());
      sum_abs += diff.sum();
      sum_ref += ref[i].cwiseAbs().sum();
      count += static_cast<double>(diff.size());
      agree += argmax(got[i]) == argmax(ref[i]) ? 1 : 0;
      positions += 1;
    }
  }
  const double mean_ref = sum_ref / count;
  return LogitFigures{max_abs / mean_ref, sum_abs / count / mean_ref, agree / positions};
}

struct GreedyFigures {
  double requests_identical = 0;
  double tokens_before_divergence = 0;
};

GreedyFigures measure_greedy(const std::string& ini, const e2e::Tokens& reference,
                             const std::string& dtype) {
  Config c = Config::load(e2e::source_path(ini));
  c.set("memory.kv_dtype", dtype);
  const e2e::Tokens got = e2e::tokens_of(e2e::run_one(c));
  double identical = 0, kept = 0, total = 0;
  for (const auto& [id, samples] : reference) {
    const std::vector<int32_t>& a = samples.at(0);
    const std::vector<int32_t>& b = got.at(id).at(0);
    size_t same = 0;
    while (same < a.size() && same < b.size() && a[same] == b[same]) ++same;
    identical += same == a.size() ? 1 : 0;
    kept += static_cast<double>(same);
    total += static_cast<double>(a.size());
  }
  return GreedyFigures{identical / static_cast<double>(reference.size()), kept / total};
}

TEST(KvDtypeAccuracy, LogitErrorAndGreedyAgreementAgainstTheFp32Cache) {
  const char* inis[] = {"experiments/cpu_tiny.ini", "experiments/cpu_tiny_opt.ini"};
  std::printf("| model | kv_dtype | bytes/slot | max logit err | mean logit err | top-1 agree "
              "(teacher-forced) | requests identical | tokens before divergence |\n"
              "|---|---|---|---|---|---|---|---|\n");
  for (const char* ini : inis) {
    SCOPED_TRACE(ini);
    Config base = Config::load(e2e::source_path(ini));
    const ExperimentConfig e = resolve_experiment(base);
    base.set("memory.kv_dtype", "fp32");
    const e2e::Tokens reference = e2e::tokens_of(e2e::run_one(base));
    for (const std::string& name : kv_dtype_names()) {
      if (name == "auto") continue;
      SCOPED_TRACE(name);
      const KvDtype dtype = parse_kv_dtype(name);
      const LogitFigures l = measure_logits(e.model, e.backend.weights_seed, dtype);
      const GreedyFigures g = measure_greedy(ini, reference, name);
      ModelSpec spec = e.model;
      spec.kv_dtype = dtype;
      std::printf("| %s | %s | %lld | %.2e | %.2e | %.4f | %.3f | %.4f |\n", e.model.name.c_str(),
                  name.c_str(), static_cast<long long>(spec.kv_bytes_per_slot()), l.max_abs_rel,
                  l.mean_abs_rel, l.top1_agreement, g.requests_identical,
                  g.tokens_before_divergence);
      if (dtype == KvDtype::kFp32) {
        EXPECT_EQ(l.max_abs_rel, 0.0);
        EXPECT_EQ(g.requests_identical, 1.0);
        continue;
      }
      // Sanity bounds (see the header): a broken format lands far outside them.
      EXPECT_GT(l.max_abs_rel, 0.0) << "no rounding at all?";
      EXPECT_LT(l.mean_abs_rel, 0.1);
      EXPECT_GT(l.top1_agreement, 0.8);
      EXPECT_GT(g.tokens_before_divergence, 0.3);
    }
  }
}

}  // namespace
}  // namespace kvlab
