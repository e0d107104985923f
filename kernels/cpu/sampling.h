// Sampling the next token from a row of logits: greedy, or random with temperature, top-k,
// top-p and a repetition penalty.
//
// Determinism. A random draw uses a std::mt19937_64 seeded from (request seed, sample index,
// position) and nothing else: the sample index is which of the request's n parallel samples
// this is, the position is the index the new token will have in its sequence (prompt length
// + tokens generated so far). So the token sampled for a given request, sample and position
// does not depend on which other sequences share the batch, on the batch's order, on block
// size or memory policy, or on whether the request was preempted and recomputed or swapped
// in between: all of these reproduce the same three numbers. (It does depend on the logits,
// which agree across these only up to float rounding.) mt19937_64 is fully specified by the
// C++ standard, and the uniform draw below is computed by hand rather than by
// std::uniform_real_distribution, whose algorithm is implementation-defined.
//
// The pipeline (vLLM's order): repetition penalty on the logits of every token that occurs in
// `history` (Hugging Face / CTRL rule: a positive logit is divided by the penalty, a
// negative one multiplied); then greedy takes the argmax (ties: lowest id); otherwise divide
// by the temperature, keep the top_k largest (ties: lowest id first), softmax, keep the
// smallest prefix of the sorted tokens whose probability reaches top_p (at least one token),
// renormalize, draw.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/request.h"
#include "kernels/sampling_rng.h"

namespace kvlab::cpu {

// The request's parameters (core/request.h): temperature 0 is greedy.
using SamplingParams = ::kvlab::SamplingParams;

inline bool is_greedy(const SamplingParams& params) { return params.temperature == 0.0f; }

// Throws InputError naming the offending field when a parameter is out of range.
void validate(const SamplingParams& params);

// The draw's seed and uniform (kernels/sampling_rng.h, shared with the GPU sampler).
using ::kvlab::sampling_seed;
using ::kvlab::uniform_01;

// Index of the largest logit; the lowest index among equals.
// REQUIRES: logits non-empty.
int32_t argmax(std::span<const float> logits);

// Logits after the repetition penalty for the tokens of `history` (each token once, however
// often it occurs). Ids outside the vocabulary are ignored.
std::vector<float> apply_repetition_penalty(std::span<const float> logits, float penalty,
                                            std::span<const int32_t> history);

// The distribution a random draw uses: probabilities over the whole vocabulary (zero for the
// tokens top-k / top-p removed), summing to 1.
// REQUIRES: !is_greedy(params); validate(params) passes; logits non-empty and finite.
std::vector<double> sampling_distribution(std::span<const float> logits,
                                          const SamplingParams& params,
                                          std::span<const int32_t> history);

// The token for (logits, params) at this sample index and position; `history` is the
// sequence's tokens so far (prompt and generated), for the repetition penalty.
int32_t sample_token(std::span<const float> logits, const SamplingParams& params,
                     std::span<const int32_t> history, int32_t sample_index, int64_t position);

}  // namespace kvlab::cpu
