// Helpers for the kernel tests: seeded random data, layouts (paged with shuffled blocks, or
// contiguous) for several sequences in one arena, and a dense attention written with plain
// loops in double precision, independent of the kernels it checks.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "core/kv_cache_manager.h"
#include "kernels/cpu/tensor.h"

namespace kvlab::testing {

// Uniform in [-scale, scale) from the top 53 bits of one draw (no std distributions).
inline float uniform(std::mt19937_64& rng, float scale = 1.0f) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return static_cast<float>(scale * (2.0 * u - 1.0));
}

inline cpu::RowMatrix random_matrix(Eigen::Index rows, Eigen::Index cols, std::mt19937_64& rng,
                                    float scale = 1.0f) {
  cpu::RowMatrix m(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r) {
    for (Eigen::Index c = 0; c < cols; ++c) m(r, c) = uniform(rng, scale);
  }
  return m;
}

// A Fisher-Yates permutation of 0..n-1 (hand-written: std::shuffle is not portable).
inline std::vector<int32_t> shuffled_ids(int32_t n, uint64_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  std::iota(ids.begin(), ids.end(), 0);
  std::mt19937_64 rng(seed);
  for (int32_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int32_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(ids[static_cast<size_t>(i)], ids[static_cast<size_t>(j)]);
  }
  return ids;
}

// Hands out layouts for sequences in one arena: paged with block_size (blocks taken from a
// shuffled permutation of the arena's blocks when `shuffle`, else in order), or contiguous
// (regions one after another with a gap of `gap` slots, so a read past a region's end lands
// in unwritten memory).
class LayoutAllocator {
 public:
  static LayoutAllocator paged(int32_t block_size, int64_t arena_slots, bool shuffle,
                               uint64_t seed = 7) {
    LayoutAllocator a;
    a.kind_ = KvLayout::Kind::kPaged;
    a.block_size_ = block_size;
    a.arena_slots_ = arena_slots;
    const auto blocks = static_cast<int32_t>(arena_slots / block_size);
    if (shuffle) {
      a.free_blocks_ = shuffled_ids(blocks, seed);
    } else {
      a.free_blocks_.resize(static_cast<size_t>(blocks));
      std::iota(a.free_blocks_.begin(), a.free_blocks_.end(), 0);
    }
    return a;
  }
  static LayoutAllocator contiguous(int64_t arena_slots, int64_t gap = 3) {
    LayoutAllocator a;
    a.kind_ = KvLayout::Kind::kContiguous;
    a.arena_slots_ = arena_slots;
    a.gap_ = gap;
    return a;
  }

  // A layout for `num_tokens` tokens; false (and nothing allocated) when the arena is full.
  bool allocate(int64_t num_tokens, KvLayout& out) {
    out = KvLayout{};
    out.kind = kind_;
    if (kind_ == KvLayout::Kind::kContiguous) {
      if (next_base_ + num_tokens > arena_slots_) return false;
      out.base_slot = next_base_;
      out.reserved_slots = num_tokens;
      next_base_ += num_tokens + gap_;
      return true;
    }
    const int64_t blocks = (num_tokens + block_size_ - 1) / block_size_;
    if (next_block_ + blocks > static_cast<int64_t>(free_blocks_.size())) return false;
    out.block_size = block_size_;
    for (int64_t b = 0; b < blocks; ++b) {
      out.block_table.push_back(free_blocks_[static_cast<size_t>(next_block_++)]);
    }
    return true;
  }
  KvLayout allocate(int64_t num_tokens) {
    KvLayout out;
    if (!allocate(num_tokens, out)) throw std::runtime_error("LayoutAllocator: arena full");
    return out;
  }

 private:
  KvLayout::Kind kind_ = KvLayout::Kind::kPaged;
  int32_t block_size_ = 0;
  int64_t arena_slots_ = 0;
  int64_t gap_ = 0;
  int64_t next_base_ = 0;
  int64_t next_block_ = 0;
  std::vector<int32_t> free_blocks_;
};

// Causal multi-head attention over dense K/V, plain loops in double. q is [q_len][heads * d],
// the queries at positions first_pos .. first_pos + q_len - 1; k and v are
// [context][kv_heads * d]. Query head h reads KV head h / (heads / kv_heads). Raw pointers
// rather than Eigen accessors keep it quick in unoptimized sanitizer builds.
inline cpu::RowMatrix naive_attention(const cpu::RowMatrix& q, const cpu::RowMatrix& k,
                                      const cpu::RowMatrix& v, int num_heads, int num_kv_heads,
                                      int head_dim, int first_pos) {
  const int group = num_heads / num_kv_heads;
  const int q_width = num_heads * head_dim, kv_width = num_kv_heads * head_dim;
  cpu::RowMatrix out(q.rows(), q.cols());
  std::vector<double> score;
  for (Eigen::Index t = 0; t < q.rows(); ++t) {
    const int pos = first_pos + static_cast<int>(t);
    score.assign(static_cast<size_t>(pos + 1), 0.0);
    for (int h = 0; h < num_heads; ++h) {
      const float* qh = q.data() + t * q_width + h * head_dim;
      const int kv_offset = (h / group) * head_dim;
      double max_score = -INFINITY;
      for (int j = 0; j <= pos; ++j) {
        const float* kj = k.data() + j * kv_width + kv_offset;
        double dot = 0.0;
        for (int d = 0; d < head_dim; ++d) dot += static_cast<double>(qh[d]) * kj[d];
        score[static_cast<size_t>(j)] = dot / std::sqrt(static_cast<double>(head_dim));
        max_score = std::max(max_score, score[static_cast<size_t>(j)]);
      }
      double total = 0.0;
      for (double& s : score) total += (s = std::exp(s - max_score));
      std::vector<double> acc(static_cast<size_t>(head_dim), 0.0);
      for (int j = 0; j <= pos; ++j) {
        const float* vj = v.data() + j * kv_width + kv_offset;
        const double p = score[static_cast<size_t>(j)] / total;
        for (int d = 0; d < head_dim; ++d) acc[static_cast<size_t>(d)] += p * vj[d];
      }
      float* oh = out.data() + t * q_width + h * head_dim;
      for (int d = 0; d < head_dim; ++d) oh[d] = static_cast<float>(acc[static_cast<size_t>(d)]);
    }
  }
  return out;
}

}  // namespace kvlab::testing
