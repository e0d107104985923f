// Tensor parallelism for the CPU decoder families: which slice of a model one rank holds, and
// the collectives that join the ranks' slices, chosen so that every rank count gives the same
// bits as one rank.
//
// The split (Megatron-LM's, and vLLM's, by heads and MLP columns):
//   - attention: rank r holds query heads [r H/T, (r+1) H/T) and KV heads [r K/T, (r+1) K/T)
//     (their q, k, v rows of qkv_proj, and their KV cache), so GQA's groups stay on one rank;
//   - MLP: rank r holds a block of the ffn columns (its gate and up rows);
//   - o_proj and down_proj: rank r holds a block of their output (hidden) rows;
//   - embeddings and LM head: a block of the vocabulary rows (vLLM's VocabParallelEmbedding
//     and ParallelLMHead); norms (and OPT's position table) on every rank.
// Column blocks are balanced and multiples of 8 columns (kSplitAlign) where the size allows.
//
// The step on each rank, with the residual stream h whole on every rank:
//   h = all_reduce(embedding rows of this rank's vocabulary block, zeros elsewhere)
//   per layer: x = norm(h) (every rank, the same bits);
//     q k v of its heads = x W_qkv[its rows];  attention of its heads over its KV cache;
//     all_gather(attention output by heads);  h[:, its block] += attn W_o[its rows];
//     all_gather(h by hidden blocks);
//     act of its ffn block = f(x W_up[its rows]); all_gather(act by ffn blocks);
//     h[:, its block] += act W_down[its rows];  all_gather(h by hidden blocks)
//   logits = all_gather(norm(h) W_lm_head[its vocabulary rows]).
// Why gathers, not Megatron's all-reduce of partial sums after o_proj and down_proj: every
// output element is then one whole dot product, computed by one rank exactly as one rank
// computes it for T = 1 (Eigen's GEMM computes an output column from its own row of the
// weight, whatever other columns it computes beside it), and the embedding's all-reduce adds
// zeros to the one nonzero row. So the logits, the greedy tokens and output_digest do not
// depend on T, bit for bit. The price is traffic: per layer the gathers bring (T-1)/T x
// (q_width + ffn + 2 hidden) x tokens floats to each rank, where Megatron's two ring all-reduces
// move 2 x 2 (T-1)/T x hidden x tokens; on shared memory that is a few memcpy of small
// activations.
// A rank count of 1 is the same code with no collectives.
#pragma once

#include <cstdint>
#include <vector>

#include "core/model_spec.h"
#include "kernels/cpu/collective.h"
#include "kernels/cpu/tensor.h"

namespace kvlab {

// One rank of a tensor-parallel group.
struct TpShard {
  int32_t rank = 0;
  int32_t size = 1;
  cpu::Communicator* comm = nullptr;  // null when size == 1; else outlives the model
};

// Columns (or rows) [offsets[r], offsets[r + 1]) belong to rank r.
struct TpSplit {
  std::vector<Eigen::Index> offsets;
  Eigen::Index first(int32_t rank) const { return offsets[static_cast<size_t>(rank)]; }
  Eigen::Index count(int32_t rank) const {
    return offsets[static_cast<size_t>(rank) + 1] - offsets[static_cast<size_t>(rank)];
  }
};

inline constexpr Eigen::Index kSplitAlign = 8;

// `n` split over `ranks` in blocks of ceil(n / ranks) rounded up to kSplitAlign (the last
// blocks smaller, possibly empty), or n / ranks each when that is not a multiple of it but
// divides n exactly.
TpSplit split_columns(Eigen::Index n, int32_t ranks);

// Throws InputError (field model.tensor_parallel) unless `ranks` >= 1 divides spec's heads and
// KV heads.
void check_tensor_parallel(const ModelSpec& spec, int32_t ranks);

class TensorParallelRank {
 public:
  // REQUIRES (checked): check_tensor_parallel(spec, shard.size) passes; when size > 1, comm
  // is this rank of a group of that size.
  TensorParallelRank(const ModelSpec& spec, TpShard shard);

  int32_t rank() const { return shard_.rank; }
  int32_t size() const { return shard_.size; }
  // spec with num_heads and num_kv_heads this rank's: the shape of its attention and its cache.
  const ModelSpec& rank_spec() const { return rank_spec_; }

  int32_t first_head() const { return rank() * rank_spec_.num_heads; }
  int32_t first_kv_head() const { return rank() * rank_spec_.num_kv_heads; }
  const TpSplit& q_columns() const { return q_columns_; }  // heads x head_dim
  const TpSplit& hidden() const { return hidden_; }
  const TpSplit& ffn() const { return ffn_; }
  const TpSplit& vocab() const { return vocab_; }

  // The collectives of the header comment; nothing at all for one rank.
  // The element-wise sum over the ranks of `buffer`.
  void all_reduce(cpu::MatrixRef buffer) const;
  // `full` ([rows][split total]) holds this rank's column block of `split`; every rank's
  // block is filled in from its owner.
  void gather(cpu::MatrixRef full, const TpSplit& split) const;
  // This rank's column block of `split` in `full` (where it computes its part).
  static cpu::MatrixRef block(cpu::MatrixRef full, const TpSplit& split, int32_t rank) {
    return full.middleCols(split.first(rank), split.count(rank));
  }
  cpu::MatrixRef block(cpu::MatrixRef full, const TpSplit& split) const {
    return block(full, split, rank());
  }

 private:
  TpShard shard_;
  ModelSpec rank_spec_;
  TpSplit q_columns_, hidden_, ffn_, vocab_;
};

}  // namespace kvlab
