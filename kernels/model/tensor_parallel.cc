#include "kernels/model/tensor_parallel.h"

#include <algorithm>
#include <string>

#include "core/errors.h"

namespace kvlab {

TpSplit split_columns(Eigen::Index n, int32_t ranks) {
  Eigen::Index block = (n + ranks - 1) / ranks;
  if (block % kSplitAlign != 0) {
    if (n % ranks != 0) block = (block + kSplitAlign - 1) / kSplitAlign * kSplitAlign;
  }
  TpSplit s;
  for (int32_t r = 0; r <= ranks; ++r) {
    s.offsets.push_back(r == ranks ? n : std::min(n, block * r));
  }
  return s;
}

void check_tensor_parallel(const ModelSpec& spec, int32_t ranks) {
  if (ranks >= 1 && spec.num_heads % ranks == 0 && spec.num_kv_heads % ranks == 0) return;
  throw InputError("", 0, "model.tensor_parallel",
                   "model '" + spec.name + "' cannot be split over " + std::to_string(ranks) +
                       " ranks: it must divide the attention heads (" +
                       std::to_string(spec.num_heads) + ") and KV heads (" +
                       std::to_string(spec.num_kv_heads) + ")");
}

TensorParallelRank::TensorParallelRank(const ModelSpec& spec, TpShard shard)
    : shard_(shard), rank_spec_(spec) {
  check_tensor_parallel(spec, shard.size);
  check_invariant(
      shard.rank >= 0 && shard.rank < shard.size &&
          (shard.size == 1 || (shard.comm != nullptr && shard.comm->size() == shard.size &&
                               shard.comm->rank() == shard.rank)),
      "TensorParallelRank: rank " + std::to_string(shard.rank) + " of " +
          std::to_string(shard.size) + " without its communicator");
  rank_spec_.num_heads = spec.num_heads / shard.size;
  rank_spec_.num_kv_heads = spec.num_kv_heads / shard.size;
  for (int32_t r = 0; r <= shard.size; ++r) {
    q_columns_.offsets.push_back(Eigen::Index{r} * rank_spec_.num_heads * spec.head_dim);
  }
  hidden_ = split_columns(spec.hidden_size, shard.size);
  ffn_ = split_columns(spec.ffn_size, shard.size);
  vocab_ = split_columns(spec.vocab_size, shard.size);
}

void TensorParallelRank::all_reduce(cpu::MatrixRef buffer) const {
  if (size() > 1) shard_.comm->all_reduce_sum(buffer);
}

void TensorParallelRank::gather(cpu::MatrixRef full, const TpSplit& split) const {
  check_invariant(full.cols() == split.offsets.back(),
                  "TensorParallelRank::gather: the buffer does not match the split");
  if (size() > 1) shard_.comm->all_gather_columns(full, split.offsets);
}

}  // namespace kvlab
