#include "app/llm.h"

#include "app/builtins.h"
#include "app/resolve_experiment.h"
#include "core/engine.h"
#include "core/errors.h"

namespace kvlab {

namespace {

Config single_point(Config config) {
  register_builtins();
  if (!config.sweep().empty()) {
    throw InputError("", 0, "sweep", "an LLM is one engine: remove the [sweep] section");
  }
  return config;
}

}  // namespace

LLM::LLM(const Config& config) : config_(resolve_experiment(single_point(config))) {
  validate_engine_config(config_);
}

LLM LLM::from_file(const std::string& path, const std::vector<std::string>& overrides) {
  register_builtins();
  Config config = Config::load(path);
  for (const std::string& o : overrides) config.set_override(o);
  return LLM(config);
}

std::vector<GenerateOutput> LLM::generate(const std::vector<std::vector<int32_t>>& prompts,
                                          const GenerationParams& params) {
  if (params.max_tokens < 1) throw InputError("", 0, "max_tokens", "must be at least 1");
  if (params.n < 1 || params.n > kMaxSamples) {
    throw InputError("", 0, "n", "must be in 1.." + std::to_string(kMaxSamples));
  }
  std::vector<RequestSpec> requests;
  requests.reserve(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::vector<int32_t>& prompt = prompts[i];
    if (prompt.empty()) throw InputError("", 0, "prompts[" + std::to_string(i) + "]", "empty prompt");
    for (int32_t t : prompt) {
      if (t < 0 || t >= config_.model.vocab_size) {
        throw InputError("", 0, "prompts[" + std::to_string(i) + "]",
                         "token id " + std::to_string(t) + " outside the vocabulary of " +
                             config_.model.name + " (" + std::to_string(config_.model.vocab_size) + ")");
      }
    }
    RequestSpec r;
    r.id = static_cast<RequestId>(i);
    r.prompt_len = static_cast<int32_t>(prompt.size());
    r.output_len = params.max_tokens;
    r.n = params.n;
    r.prompt_tokens = prompt;
    r.sampling = params.sampling;
    r.sampling.seed = params.sampling.seed * 0x9e3779b97f4a7c15ULL + i;
    requests.push_back(std::move(r));
  }
  auto engine = make_engine(config_);
  last_run_ = engine->run(requests);
  std::vector<GenerateOutput> outputs;
  outputs.reserve(last_run_.requests.size());
  for (const RequestRecord& rec : last_run_.requests) {
    GenerateOutput out;
    out.id = rec.id;
    out.prompt = prompts[static_cast<size_t>(rec.id)];
    out.samples = rec.token_ids;
    out.finished = rec.outcome == RequestOutcome::kFinished;
    out.reject_reason = rec.reject_reason;
    out.first_token_s = rec.first_token_s;
    out.finish_s = rec.finish_s;
    out.num_preemptions = rec.num_preemptions;
    outputs.push_back(std::move(out));
  }
  return outputs;
}

}  // namespace kvlab
