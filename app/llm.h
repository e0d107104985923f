// kvlab::LLM: a small API for programs that embed kvlab, in the spirit of vLLM's
// `LLM(model).generate(prompts, SamplingParams)`: build an engine from a config (an INI file
// or a Config), hand it prompts as token ids, get back each request's generated tokens and
// its metrics. Every call runs the prompts offline (all arrive at t = 0) on a fresh engine, so
// calls do not share KV state.
//
//   kvlab::LLM llm = kvlab::LLM::from_file("experiments/cpu_tiny.ini");
//   kvlab::GenerationParams params;
//   params.max_tokens = 32;
//   for (const kvlab::GenerateOutput& out : llm.generate({{1, 2, 3}, {4, 5}}, params))
//     use(out.samples[0]);
//
// Thread safety: one LLM per thread.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/experiment.h"
#include "core/metrics.h"
#include "core/request.h"

namespace kvlab {

struct GenerationParams {
  SamplingParams sampling;  // greedy by default; seed 0 is mixed with each request's index
  int32_t max_tokens = 16;  // tokens generated per sample (no EOS: like vLLM's ignore_eos)
  int32_t n = 1;            // parallel samples per prompt
};

struct GenerateOutput {
  RequestId id = 0;                              // the prompt's index in the call
  std::vector<int32_t> prompt;
  std::vector<std::vector<int32_t>> samples;     // n sequences of generated ids (real back
                                                 // ends; empty on the simulator)
  bool finished = false;                         // false: rejected (see reject_reason)
  std::string reject_reason;
  double first_token_s = 0;                      // engine clock: seconds after submission
  double finish_s = 0;
  int32_t num_preemptions = 0;
};

class LLM {
 public:
  // Throws InputError for a bad config; a [sweep] section is refused (an LLM is one engine).
  // A Config the caller parsed needs the built-in keys registered first (register_builtins(),
  // app/builtins.h); from_file does that itself.
  explicit LLM(const Config& config);
  static LLM from_file(const std::string& path, const std::vector<std::string>& overrides = {});

  // Generates for every prompt. Throws InputError for an empty prompt, a token id outside the
  // model's vocabulary, or bad params. A prompt that can never fit is returned unfinished
  // with its reason, as the engine rejects it.
  std::vector<GenerateOutput> generate(const std::vector<std::vector<int32_t>>& prompts,
                                       const GenerationParams& params);

  // The full record of the last generate() call: per-step table, summary, digest.
  const RunResult& last_run() const { return last_run_; }
  const ExperimentConfig& config() const { return config_; }

 private:
  ExperimentConfig config_;
  RunResult last_run_;
};

}  // namespace kvlab
