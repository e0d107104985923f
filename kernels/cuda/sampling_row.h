// The row sampler shared by the GPU kernel and its host tests: kernels/cpu/sampling.h's
// pipeline for one row of logits, written once for a "team" of threads that sample the row
// together (a CUDA thread block in sampling_kernels.cu; std::threads with a barrier in the host
// tests), so the selection logic itself runs, and is tested against cpu::sample_token, on a
// machine without a GPU. Compiles with nvcc (functions __host__ __device__) and plain g++.
//
// The pipeline, as the CPU's: repetition penalty (the float rule, on the tokens marked in a
// bitmask built from the history) -> greedy argmax if temperature is 0 -> logit / temperature
// in double -> top-k by logit (ties: lowest id) -> softmax -> the smallest prefix of the sorted
// tokens whose mass reaches top_p -> renormalize -> inverse CDF in id order with
// u = uniform_01(first output of std::mt19937_64 seeded with sampling_seed(seed, sample index,
// position)).
//
// No sort. Tokens are ordered by an order-preserving 32-bit key of their (penalized) float
// logit (dividing by the temperature in double keeps the order and the ties). A radix search
// over the key, 4 bits per pass with 16 bins per thread, finds the largest key K whose
// "W(key >= K)" reaches a target: W counts tokens for top-k (target k; exact), and sums
// softmax weights for top-p (target top_p * total). Tokens equal to K are cut in id order (the
// n-th such id, by a team-wide scan), so a kept set is always {key > K} + {key == K, id <= cut}.
// The draw is an inverse CDF over contiguous per-thread chunks of ids with a team-wide prefix
// sum.
//
// Guarantee against cpu::sample_token (the tests assert it):
//  - greedy, and the top-k kept set: exactly the CPU's (comparisons and exact counts only);
//  - the top-p kept set and the drawn token: the CPU's unless the CPU's decision was within
//    rounding of a boundary. The device sums the same double weights in another order (team
//    reductions instead of one sequential loop) and its exp() may differ by an ulp, so sums
//    agree to ~1e-15 relative: a different token needs |u - CDF(i)| or |prefix mass - top_p *
//    total| / total below ~1e-12 at the CPU's boundary; with a uniform u this happens with
//    probability ~1e-12 per draw.
//  - Deterministic: every team reduction has a fixed order, so the same inputs give the same
//    token on every run (no floating-point atomics).
//
// REQUIRES (as the CPU): finite logits for random sampling; parameters pass cpu::validate.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/host_device.h"
#include "kernels/sampling_rng.h"

namespace kvlab::cuda::sampling {

// One draw as the kernel reads it (plain data, uploaded per step). history_begin/end index the
// step's concatenated history array; the ids there may repeat or lie outside the vocabulary
// (both ignored, as the CPU ignores them).
struct RowSpec {
  int64_t row = 0;  // logits row
  int64_t position = 0;
  uint64_t seed = 0;
  int64_t history_begin = 0;
  int64_t history_end = 0;
  float temperature = 0.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  float repetition_penalty = 1.0f;
  int32_t sample_index = 0;
  int32_t reserved = 0;
};

constexpr int32_t kRadixBits = 4;
constexpr int32_t kBins = 1 << kRadixBits;
constexpr int32_t kNone = 0x7fffffff;  // "no id": larger than every id

// --- the random draw: kernels/sampling_rng.h, as the CPU's --------------------------------

using ::kvlab::mt19937_64_first;
using ::kvlab::sampling_seed;
using ::kvlab::sampling_u;
using ::kvlab::uniform_01;

// --- keys -------------------------------------------------------------------------------------

// Order-preserving: a < b (as floats) iff key(a) < key(b); -0 and +0 share a key (the CPU
// compares them equal, so they tie and the lower id goes first).
KVLAB_CUDA_HD uint32_t float_key(float v) {
  if (v == 0.0f) v = 0.0f;
  uint32_t b;
  std::memcpy(&b, &v, sizeof(b));
  return (b & 0x80000000u) != 0 ? ~b : (b | 0x80000000u);
}

KVLAB_CUDA_HD float key_float(uint32_t k) {
  const uint32_t b = (k & 0x80000000u) != 0 ? (k & 0x7fffffffu) : ~k;
  float v;
  std::memcpy(&v, &b, sizeof(v));
  return v;
}

// --- one row ----------------------------------------------------------------------------------

// The row's logits after the repetition penalty (marked tokens), read on demand.
struct PenalizedRow {
  const float* logits;
  const uint32_t* marked;  // bitmask over the vocabulary; null: no penalty
  float penalty;

  KVLAB_CUDA_HD float operator()(int32_t i) const {
    const float l = logits[i];
    if (marked == nullptr || ((marked[i >> 5] >> (i & 31)) & 1u) == 0) return l;
    return l > 0.0f ? l / penalty : l * penalty;
  }
  KVLAB_CUDA_HD uint32_t key(int32_t i) const { return float_key((*this)(i)); }
};

// Kept tokens: key > key_cut, or key == key_cut and id <= last_id.
struct KeptSet {
  uint32_t key_cut = 0;
  int32_t last_id = kNone;
  KVLAB_CUDA_HD bool contains(uint32_t key, int32_t id) const {
    return key > key_cut || (key == key_cut && id <= last_id);
  }
};

// exp(logit / temperature - max), the CPU's softmax weight.
struct Weight {
  double temperature;
  double max_scaled;
  KVLAB_CUDA_HD double operator()(uint32_t key) const {
    return exp(static_cast<double>(key_float(key)) / temperature - max_scaled);
  }
};

struct One {
  KVLAB_CUDA_HD double operator()(uint32_t) const { return 1.0; }
};

struct RadixResult {
  uint32_t key = 0;  // the largest key K with W(key >= K) >= target
  double above = 0;  // W(key > K)
  double at = 0;     // W(key == K)
};

// Over the tokens of `in`, the largest key K with W(key >= K) >= target (W: sum of weight(key)),
// 4 bits per pass. REQUIRES: 0 < target <= W(all of `in`) (for top-p this holds up to
// rounding; should rounding leave no bin reaching the target, the lowest bin with mass is
// taken, i.e. everything is kept).
template <class Team, class WeightFn>
KVLAB_CUDA_HD_FN RadixResult radix_search(Team& team, const PenalizedRow& row, int32_t vocab,
                                           const KeptSet& in, const WeightFn& weight,
                                           double target) {
  RadixResult r;
  uint32_t prefix = 0, mask = 0;
  for (int32_t shift = 32 - kRadixBits; shift >= 0; shift -= kRadixBits) {
    for (int32_t d = 0; d < kBins; ++d) team.bin(d) = 0.0;
    for (int32_t i = team.rank(); i < vocab; i += team.size()) {
      const uint32_t k = row.key(i);
      if ((k & mask) != prefix || !in.contains(k, i)) continue;
      team.bin(static_cast<int32_t>((k >> shift) & (kBins - 1))) += weight(k);
    }
    const double* totals = team.reduce_bins();
    int32_t chosen = -1;
    double cumulative = r.above;
    for (int32_t d = kBins - 1; d >= 0; --d) {
      if (cumulative + totals[d] >= target) {
        chosen = d;
        break;
      }
      cumulative += totals[d];
    }
    if (chosen < 0) {  // rounding only (see REQUIRES): keep everything with mass
      cumulative = r.above;
      chosen = 0;
      for (int32_t d = kBins - 1; d >= 0; --d) {
        if (totals[d] > 0.0) chosen = d;
      }
      for (int32_t d = kBins - 1; d > chosen; --d) cumulative += totals[d];
    }
    r.above = cumulative;
    r.at = totals[chosen];
    prefix |= static_cast<uint32_t>(chosen) << shift;
    mask |= static_cast<uint32_t>(kBins - 1) << shift;
  }
  r.key = prefix;
  return r;
}

// The id of the n-th (1-based) token in id order with key == `key` among `in`; kNone if there
// are fewer. Threads scan contiguous chunks of ids.
template <class Team>
KVLAB_CUDA_HD_FN int32_t nth_with_key(Team& team, const PenalizedRow& row, int32_t vocab,
                                       const KeptSet& in, uint32_t key, int32_t n) {
  const int32_t chunk = (vocab + team.size() - 1) / team.size();
  const int32_t lo = team.rank() * chunk < vocab ? team.rank() * chunk : vocab;
  const int32_t hi = lo + chunk < vocab ? lo + chunk : vocab;
  int32_t count = 0;
  for (int32_t i = lo; i < hi; ++i) {
    const uint32_t k = row.key(i);
    count += (k == key && in.contains(k, i)) ? 1 : 0;
  }
  int32_t total = 0;
  const int32_t before = team.exclusive_scan(count, &total);
  int32_t found = kNone;
  if (n > before && n <= before + count) {
    int32_t seen = before;
    for (int32_t i = lo; i < hi; ++i) {
      const uint32_t k = row.key(i);
      if (k == key && in.contains(k, i) && ++seen == n) {
        found = i;
        break;
      }
    }
  }
  return team.min(found);
}

// Sum of weight over the kept set.
template <class Team>
KVLAB_CUDA_HD_FN double kept_mass(Team& team, const PenalizedRow& row, int32_t vocab,
                                   const KeptSet& kept, const Weight& weight) {
  double s = 0.0;
  for (int32_t i = team.rank(); i < vocab; i += team.size()) {
    const uint32_t k = row.key(i);
    if (kept.contains(k, i)) s += weight(k);
  }
  return team.sum(s);
}

// Greedy: the largest penalized logit, lowest id among equals (NaN never wins; all NaN: 0, as
// argmax_rows).
template <class Team>
KVLAB_CUDA_HD_FN int32_t argmax(Team& team, const PenalizedRow& row, int32_t vocab) {
  uint32_t best = 0;
  for (int32_t i = team.rank(); i < vocab; i += team.size()) {
    const float v = row(i);
    const uint32_t k = float_key(v);
    if (v == v && k > best) best = k;
  }
  best = team.max(best);
  int32_t id = kNone;
  for (int32_t i = team.rank(); i < vocab; i += team.size()) {
    const float v = row(i);
    if (v == v && float_key(v) == best) {
      id = i;
      break;
    }
  }
  id = team.min(id);
  return id == kNone ? 0 : id;
}

// Inverse CDF in id order over the kept set, probabilities weight / total (as the CPU: the
// first id whose cumulative probability exceeds u; rounding can leave the sum a hair under 1,
// then the last kept id).
template <class Team>
KVLAB_CUDA_HD_FN int32_t inverse_cdf(Team& team, const PenalizedRow& row, int32_t vocab,
                                      const KeptSet& kept, const Weight& weight, double total,
                                      double u) {
  const int32_t chunk = (vocab + team.size() - 1) / team.size();
  const int32_t lo = team.rank() * chunk < vocab ? team.rank() * chunk : vocab;
  const int32_t hi = lo + chunk < vocab ? lo + chunk : vocab;
  double mass = 0.0;
  int32_t last = -1;
  for (int32_t i = lo; i < hi; ++i) {
    const uint32_t k = row.key(i);
    if (!kept.contains(k, i)) continue;
    mass += weight(k) / total;
    last = i;
  }
  double all = 0.0;
  double cumulative = team.exclusive_scan(mass, &all);
  int32_t found = kNone;
  if (last >= 0 && u < cumulative + mass) {
    for (int32_t i = lo; i < hi; ++i) {
      const uint32_t k = row.key(i);
      if (!kept.contains(k, i)) continue;
      cumulative += weight(k) / total;
      if (u < cumulative) {
        found = i;
        break;
      }
    }
  }
  found = team.min(found);
  if (found != kNone) return found;
  const uint32_t last_kept = team.max(static_cast<uint32_t>(last + 1));
  return last_kept == 0 ? 0 : static_cast<int32_t>(last_kept - 1);
}

// Team interface (every member calls each collective, in the same order):
//   int32_t rank(), size();  void sync();
//   double sum(double);  uint32_t max(uint32_t);  int32_t min(int32_t);
//   int32_t exclusive_scan(int32_t x, int32_t* total);  double exclusive_scan(double, double*);
//     (sum over lower ranks; *total: over all; every reduction in a fixed order)
//   double& bin(int32_t d): this member's bin d (kBins per member);
//   const double* reduce_bins(): bin totals over the team (valid until the next call);
//   uint32_t* marks(): the team's shared bitmask (vocab bits; sized by the caller);
//   void mark(uint32_t* words, int32_t bit): sets a bit atomically.
//
// Returns the token for `spec`; `logits` is its row, `history` the step's history array.
// REQUIRES: vocab > 0; spec's parameters pass cpu::validate.
template <class Team>
KVLAB_CUDA_HD_FN int32_t sample_row(Team& team, const float* logits, int32_t vocab,
                                     const RowSpec& spec, const int32_t* history) {
  PenalizedRow row{logits, nullptr, spec.repetition_penalty};
  if (spec.repetition_penalty != 1.0f && spec.history_end > spec.history_begin) {
    uint32_t* words = team.marks();
    const int32_t num_words = (vocab + 31) / 32;
    for (int32_t w = team.rank(); w < num_words; w += team.size()) words[w] = 0;
    team.sync();
    for (int64_t h = spec.history_begin + team.rank(); h < spec.history_end; h += team.size()) {
      const int32_t token = history[h];
      if (token >= 0 && token < vocab) team.mark(words, token);
    }
    team.sync();
    row.marked = words;
  }
  if (spec.temperature == 0.0f) return argmax(team, row, vocab);

  uint32_t max_key = 0;
  for (int32_t i = team.rank(); i < vocab; i += team.size()) {
    const uint32_t k = row.key(i);
    max_key = k > max_key ? k : max_key;
  }
  max_key = team.max(max_key);
  const Weight weight{static_cast<double>(spec.temperature),
                      static_cast<double>(key_float(max_key)) / spec.temperature};

  const KeptSet all;
  KeptSet kept = all;
  if (spec.top_k > 0 && spec.top_k < vocab) {
    const RadixResult r = radix_search(team, row, vocab, all, One{}, spec.top_k);
    const auto needed = static_cast<int32_t>(spec.top_k - r.above);  // counts are exact
    const auto ties = static_cast<int32_t>(r.at);
    kept.key_cut = r.key;
    kept.last_id = needed >= ties ? kNone : nth_with_key(team, row, vocab, all, r.key, needed);
  }
  double total = kept_mass(team, row, vocab, kept, weight);
  if (spec.top_p < 1.0f) {
    const double target = static_cast<double>(spec.top_p) * total;
    const RadixResult r = radix_search(team, row, vocab, kept, weight, target);
    // Tokens at the cut share one weight w; the CPU adds them one by one until the target.
    const double w = weight(r.key);
    const int32_t ties = w > 0.0 ? static_cast<int32_t>(r.at / w + 0.5) : 1;
    int32_t n = ties;
    if (w > 0.0 && target > r.above) {
      const double need = ceil((target - r.above) / w);
      n = need < 1.0 ? 1 : (need > ties ? ties : static_cast<int32_t>(need));
      while (n > 1 && r.above + (n - 1) * w >= target) --n;
      while (n < ties && r.above + n * w < target) ++n;
    }
    KeptSet nucleus;
    nucleus.key_cut = r.key;
    if (n < ties) {
      nucleus.last_id = nth_with_key(team, row, vocab, kept, r.key, n);
    } else {
      nucleus.last_id = r.key == kept.key_cut ? kept.last_id : kNone;
    }
    kept = nucleus;
    total = kept_mass(team, row, vocab, kept, weight);
  }
  const double u = sampling_u(spec.seed, spec.sample_index, spec.position);
  return inverse_cdf(team, row, vocab, kept, weight, total, u);
}

}  // namespace kvlab::cuda::sampling
