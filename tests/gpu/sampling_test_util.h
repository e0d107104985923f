// Differential testing of a batch sampler (the GPU kernel, or sampling_row.h on host threads)
// against cpu::sample_token: parameter cases, random logits (with and without ties), and the
// host-side margin that explains a mismatch (kernels/cuda/sampling_row.h's guarantee: the same
// token unless the CPU's u lay within rounding of a CDF value, or its top-p prefix mass within
// rounding of top_p * total).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "kernels/cpu/sampling.h"
#include "kernels/cuda/sampling.h"

namespace kvlab::gpu_testing {

struct SamplingCase {
  std::string name;
  SamplingParams params;
  enum class Logits { kNormal, kCoarse, kFlat } logits = Logits::kNormal;
  bool history = false;  // a history with repeats and out-of-range ids
};

// gtest prints a case by its name.
inline void PrintTo(const SamplingCase& c, std::ostream* os) { *os << c.name; }

inline SamplingParams params(float temperature, int32_t top_k, float top_p, float penalty) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.repetition_penalty = penalty;
  return p;
}

inline std::vector<SamplingCase> sampling_cases() {
  using L = SamplingCase::Logits;
  return {
      {"greedy", params(0.0f, 0, 1.0f, 1.0f)},
      {"greedy_ties", params(0.0f, 0, 1.0f, 1.0f), L::kCoarse},
      {"greedy_penalty", params(0.0f, 0, 1.0f, 1.5f), L::kNormal, true},
      {"temperature", params(0.8f, 0, 1.0f, 1.0f)},
      {"hot", params(4.0f, 0, 1.0f, 1.0f)},
      {"cold", params(0.05f, 0, 1.0f, 1.0f)},
      {"top_k_1", params(1.0f, 1, 1.0f, 1.0f)},
      {"top_k_50", params(0.7f, 50, 1.0f, 1.0f)},
      {"top_k_ties", params(1.0f, 37, 1.0f, 1.0f), L::kCoarse},
      {"top_p_0.9", params(1.0f, 0, 0.9f, 1.0f)},
      {"top_p_0.3", params(0.6f, 0, 0.3f, 1.0f)},
      {"top_p_ties", params(1.0f, 0, 0.5f, 1.0f), L::kCoarse},
      {"top_k_top_p", params(0.9f, 40, 0.8f, 1.0f)},
      {"top_k_top_p_ties", params(1.0f, 100, 0.7f, 1.0f), L::kCoarse},
      {"flat_top_k", params(1.0f, 10, 1.0f, 1.0f), L::kFlat},
      {"flat_top_p", params(1.0f, 0, 0.25f, 1.0f), L::kFlat},
      {"flat_top_k_top_p", params(1.0f, 64, 0.3f, 1.0f), L::kFlat},
      {"penalty", params(1.0f, 0, 1.0f, 1.3f), L::kNormal, true},
      {"penalty_below_1", params(0.9f, 20, 1.0f, 0.7f), L::kNormal, true},
      {"everything", params(0.7f, 30, 0.9f, 1.2f), L::kNormal, true},
      {"everything_ties", params(1.1f, 200, 0.6f, 1.2f), L::kCoarse, true},
  };
}

// kNormal: N(0, 2.5^2) logits. kCoarse: multiples of 0.5 in [-4, 4] (many ties at every cut).
// kFlat: all equal except a few.
inline std::vector<float> random_logits(int32_t vocab, SamplingCase::Logits kind,
                                        std::mt19937_64& rng) {
  std::vector<float> out(static_cast<size_t>(vocab));
  std::normal_distribution<float> normal(0.0f, 2.5f);
  std::uniform_int_distribution<int> coarse(-8, 8);
  for (float& x : out) {
    switch (kind) {
      case SamplingCase::Logits::kNormal:
        x = normal(rng);
        break;
      case SamplingCase::Logits::kCoarse:
        x = 0.5f * static_cast<float>(coarse(rng));
        break;
      case SamplingCase::Logits::kFlat:
        x = 1.0f;
        break;
    }
  }
  if (kind == SamplingCase::Logits::kFlat) {
    for (int i = 0; i < 3; ++i) out[rng() % out.size()] = 2.0f;
    out[rng() % out.size()] = -0.0f;  // ties with nothing, but must sort like +0
  }
  return out;
}

inline std::vector<int32_t> random_history(int32_t vocab, std::mt19937_64& rng) {
  std::vector<int32_t> h;
  const size_t n = 20 + rng() % 200;
  for (size_t i = 0; i < n; ++i) h.push_back(static_cast<int32_t>(rng() % 64));  // repeats
  for (size_t i = 0; i < n; ++i)
    h.push_back(static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab)));
  h.push_back(-3);     // ignored
  h.push_back(vocab);  // ignored
  return h;
}

// How close the CPU's decisions for this draw were to a boundary, relative: the smallest
// |u - CDF(i)| over kept ids i between tokens a and b, and for top-p the smallest
// |prefix mass - top_p * total| / total around the cut. Infinite for greedy (which has no
// rounding-sensitive step).
inline double boundary_margin(std::span<const float> logits, const SamplingParams& p,
                              std::span<const int32_t> history, int32_t sample_index,
                              int64_t position, int32_t a, int32_t b) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (cpu::is_greedy(p)) return kInf;
  const std::vector<double> probs = cpu::sampling_distribution(logits, p, history);
  std::mt19937_64 rng(cpu::sampling_seed(p.seed, sample_index, position));
  const double u = cpu::uniform_01(rng());
  double margin = kInf, cumulative = 0.0;
  const int32_t lo = std::min(a, b), hi = std::max(a, b);
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] == 0.0) continue;
    cumulative += probs[i];
    if (static_cast<int32_t>(i) >= lo && static_cast<int32_t>(i) <= hi) {
      margin = std::min(margin, std::fabs(u - cumulative));
    }
  }
  if (p.top_p < 1.0f) {
    // The CPU's sorted weights after top-k, and the cut's neighbourhood.
    const std::vector<float> pen =
        cpu::apply_repetition_penalty(logits, p.repetition_penalty, history);
    std::vector<double> scaled(pen.size());
    for (size_t i = 0; i < pen.size(); ++i) scaled[i] = static_cast<double>(pen[i]) / p.temperature;
    std::vector<double> sorted = scaled;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    size_t kept = sorted.size();
    if (p.top_k > 0 && static_cast<size_t>(p.top_k) < kept) kept = static_cast<size_t>(p.top_k);
    double total = 0.0;
    std::vector<double> w(kept);
    for (size_t r = 0; r < kept; ++r) total += (w[r] = std::exp(sorted[r] - sorted[0]));
    const double target = static_cast<double>(p.top_p) * total;
    double s = 0.0;
    for (size_t r = 0; r < kept; ++r) {
      const double before = s;
      s += w[r];
      if (s >= target) {
        margin =
            std::min({margin, std::fabs(s - target) / total, std::fabs(before - target) / total});
        break;
      }
    }
  }
  return margin;
}

// One draw of a comparison.
struct DrawInput {
  std::vector<float> logits;
  std::vector<int32_t> history;
  SamplingParams params;
  int32_t sample_index = 0;
  int64_t position = 0;
};

// Draws `count` inputs for `c`; seeds and positions vary so every draw has its own u.
inline std::vector<DrawInput> make_draws(const SamplingCase& c, int32_t vocab, int count,
                                         uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<DrawInput> out;
  for (int i = 0; i < count; ++i) {
    DrawInput d;
    d.logits = random_logits(vocab, c.logits, rng);
    if (c.history) d.history = random_history(vocab, rng);
    d.params = c.params;
    d.params.seed = rng();
    d.sample_index = static_cast<int32_t>(rng() % 4);
    d.position = static_cast<int64_t>(rng() % 100000);
    out.push_back(std::move(d));
  }
  return out;
}

inline cuda::SampleDraw as_draw(const DrawInput& d, int64_t row) {
  cuda::SampleDraw s;
  s.row = row;
  s.params = d.params;
  s.sample_index = d.sample_index;
  s.position = d.position;
  s.history = d.history;
  return s;
}

// Tokens equal to cpu::sample_token's, except mismatches each explained by a boundary margin
// below 1e-9, and at most 0.1% of them (greedy: none).
inline ::testing::AssertionResult agrees_with_cpu(const std::vector<DrawInput>& draws,
                                                  const std::vector<int32_t>& got) {
  if (got.size() != draws.size()) return ::testing::AssertionFailure() << "count differs";
  size_t mismatches = 0;
  for (size_t i = 0; i < draws.size(); ++i) {
    const DrawInput& d = draws[i];
    const int32_t want =
        cpu::sample_token(d.logits, d.params, d.history, d.sample_index, d.position);
    if (got[i] == want) continue;
    ++mismatches;
    const double margin =
        boundary_margin(d.logits, d.params, d.history, d.sample_index, d.position, want, got[i]);
    if (!(margin < 1e-9)) {
      return ::testing::AssertionFailure()
             << "draw " << i << ": got " << got[i] << ", cpu::sample_token says " << want
             << " and its nearest boundary is " << margin << " away (no rounding explains it)";
    }
  }
  if (mismatches * 1000 > draws.size()) {
    return ::testing::AssertionFailure() << mismatches << " of " << draws.size()
                                         << " draws differ (explained, but more than 0.1%)";
  }
  return ::testing::AssertionSuccess() << mismatches << " explained mismatches";
}

}  // namespace kvlab::gpu_testing
