// The attention kernels' softmax arithmetic as plain functions, shared by the kernels
// (decode_attention.cu, prefill_attention.cu) and host tests (tests/gpu/host_logic_test.cc
// checks them against a full softmax in double): the online update of a running state
// (FlashAttention), the weights that merge states (the warps of a block, the partitions of
// split-K), and the partition arithmetic of split-K.
//
// A state over a set of scores s_i with values v_i is (m, l, acc): m = max s_i (-inf for the
// empty set), l = sum exp(s_i - m), acc = sum exp(s_i - m) v_i; the softmax-weighted mean of
// the v_i is acc / l. The empty state (-inf, 0, 0) merges as the identity.
#pragma once

#include <math.h>

#include <cstdint>

#include "core/host_device.h"

namespace kvlab::cuda {

// exp(m_part - m_total): the factor that rescales a state with max m_part to a larger max
// m_total (>= m_part). An empty state (m_part = -inf) gets 0, also when m_total is -inf
// (where exp(-inf - -inf) would be NaN).
KVLAB_CUDA_HD float softmax_rescale(float m_part, float m_total) {
  return m_part == -INFINITY ? 0.0f : expf(m_part - m_total);
}

// Online softmax: moves a running state (m, l) to the new max max(m, tile_max) before a tile
// of scores is added; returns the factor the state's acc must be multiplied by. The caller
// then adds p = exp(s - m) to l and p * v to acc for each score s of the tile.
// REQUIRES: tile_max finite or m finite (a tile adds at least one score, or nothing changes).
KVLAB_CUDA_HD float softmax_advance(float& m, float& l, float tile_max) {
  const float m_new = fmaxf(m, tile_max);
  const float alpha = softmax_rescale(m, m_new);
  l *= alpha;
  m = m_new;
  return alpha;
}

// Split-K: the partitions of `partition_tokens` tokens that cover `context` tokens.
KVLAB_CUDA_HD int32_t num_partitions(int32_t context, int32_t partition_tokens) {
  return static_cast<int32_t>((int64_t{context} + partition_tokens - 1) / partition_tokens);
}

}  // namespace kvlab::cuda
