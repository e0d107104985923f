#include "kernels/cpu/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "core/errors.h"

namespace kvlab::cpu {

void validate(const SamplingParams& params) {
  if (!(params.temperature >= 0.0f) || !std::isfinite(params.temperature)) {
    throw InputError("", 0, "sampling.temperature",
                     "must be >= 0, got " + std::to_string(params.temperature));
  }
  if (params.top_k < 0) {
    throw InputError("", 0, "sampling.top_k", "must be >= 0, got " + std::to_string(params.top_k));
  }
  if (!(params.top_p > 0.0f && params.top_p <= 1.0f)) {
    throw InputError("", 0, "sampling.top_p",
                     "must be in (0, 1], got " + std::to_string(params.top_p));
  }
  if (!(params.repetition_penalty > 0.0f) || !std::isfinite(params.repetition_penalty)) {
    throw InputError("", 0, "sampling.repetition_penalty",
                     "must be > 0, got " + std::to_string(params.repetition_penalty));
  }
}

int32_t argmax(std::span<const float> logits) {
  check_invariant(!logits.empty(), "argmax: empty logits");
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

std::vector<float> apply_repetition_penalty(std::span<const float> logits, float penalty,
                                            std::span<const int32_t> history) {
  std::vector<float> out(logits.begin(), logits.end());
  if (penalty == 1.0f) return out;
  std::vector<bool> seen(logits.size(), false);
  for (int32_t token : history) {
    if (token < 0 || static_cast<size_t>(token) >= logits.size() ||
        seen[static_cast<size_t>(token)]) {
      continue;
    }
    seen[static_cast<size_t>(token)] = true;
    float& l = out[static_cast<size_t>(token)];
    l = l > 0.0f ? l / penalty : l * penalty;
  }
  return out;
}

std::vector<double> sampling_distribution(std::span<const float> logits,
                                          const SamplingParams& params,
                                          std::span<const int32_t> history) {
  check_invariant(!is_greedy(params), "sampling_distribution: greedy parameters");
  check_invariant(!logits.empty(), "sampling_distribution: empty logits");
  const std::vector<float> penalized =
      apply_repetition_penalty(logits, params.repetition_penalty, history);
  const size_t vocab = penalized.size();
  std::vector<double> scaled(vocab);
  for (size_t i = 0; i < vocab; ++i) {
    scaled[i] = static_cast<double>(penalized[i]) / params.temperature;
  }

  // Tokens from most to least likely; equal logits in id order, so the cut is reproducible.
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const double la = scaled[static_cast<size_t>(a)], lb = scaled[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  });
  size_t kept = vocab;
  if (params.top_k > 0 && static_cast<size_t>(params.top_k) < vocab) {
    kept = static_cast<size_t>(params.top_k);
  }

  const double max_logit = scaled[static_cast<size_t>(order[0])];
  std::vector<double> weight(kept);
  double total = 0.0;
  for (size_t r = 0; r < kept; ++r) {
    weight[r] = std::exp(scaled[static_cast<size_t>(order[r])] - max_logit);
    total += weight[r];
  }
  if (params.top_p < 1.0f) {
    // The smallest prefix whose mass reaches top_p of the (top-k renormalized) total.
    const double target = static_cast<double>(params.top_p) * total;
    double cumulative = 0.0;
    size_t prefix = 0;
    while (prefix < kept) {
      cumulative += weight[prefix++];
      if (cumulative >= target) break;
    }
    kept = prefix;
    total = cumulative;
  }

  std::vector<double> probs(vocab, 0.0);
  for (size_t r = 0; r < kept; ++r) probs[static_cast<size_t>(order[r])] = weight[r] / total;
  return probs;
}

int32_t sample_token(std::span<const float> logits, const SamplingParams& params,
                     std::span<const int32_t> history, int32_t sample_index, int64_t position) {
  validate(params);
  if (is_greedy(params)) {
    return argmax(apply_repetition_penalty(logits, params.repetition_penalty, history));
  }
  const std::vector<double> probs = sampling_distribution(logits, params, history);
  std::mt19937_64 rng(sampling_seed(params.seed, sample_index, position));
  const double u = uniform_01(rng());
  // Inverse CDF in id order. Rounding can leave the sum a hair under 1: then the last token
  // with non-zero probability takes the remainder.
  double cumulative = 0.0;
  int32_t last_kept = -1;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] == 0.0) continue;
    last_kept = static_cast<int32_t>(i);
    cumulative += probs[i];
    if (u < cumulative) return last_kept;
  }
  return last_kept;
}

}  // namespace kvlab::cpu
