// Rotary position embedding, Llama / Hugging Face convention ("rotate half"): within each
// head of head_dim = 2 * half, element i pairs with element i + half and the pair rotates by
// angle position * theta^(-2i / head_dim):
//   out[i]        = x[i] * cos - x[i + half] * sin
//   out[i + half] = x[i + half] * cos + x[i] * sin
// (GPT-NeoX layout; Meta's original interleaved pairs (2i, 2i+1) instead, and HF permutes the
// q/k weights on conversion so the two agree.) Angles are computed in double precision, then
// rounded to float.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/cpu/tensor.h"

namespace kvlab::cpu {

// Rotates every head of every row of `x` in place. x is [n][num_heads * head_dim]; row r is the
// token at positions[r].
// REQUIRES: head_dim even, x.cols() % head_dim == 0, positions.size() == x.rows().
void apply_rotary(MatrixRef x, int32_t head_dim, std::span<const int32_t> positions, double theta);

}  // namespace kvlab::cpu
