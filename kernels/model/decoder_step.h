// DecoderStep: the part of one forward step every decoder family shares (DecoderModel,
// decoder_model.h). Built once per step, it
//   - arranges the batch for the kernels: multi-token entries (prefills) first, then single
//     tokens (decodes), so each attention kernel reads one contiguous band of rows;
//   - checks the token ids against the vocabulary and the cache against the model's shape;
//   - builds the paged or contiguous KV tables of each attention kernel, checked against the
//     arena;
//   - per layer, writes the new tokens' K/V into their cache slots and then runs prefill and
//     decode attention over the cache (attend);
//   - picks the rows whose logits come back (sampling_rows).
// What a family does around attention (norms, positions, projections, MLP) is its own.
//
// Rows are in the kernels' order, not batch order: token_ids() and positions() say which
// token each row is; sampling_rows() maps back to batch order.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/model_spec.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/cpu/tensor.h"
#include "kernels/kv_cache_view.h"
#include "kernels/model/decoder_model.h"

namespace kvlab {

class DecoderStep {
 public:
  // REQUIRES (checked, InvariantError): the contract of DecoderModel::forward. Throws
  // InputError (field token_ids) for a token id outside [0, spec.vocab_size).
  DecoderStep(std::span<const ForwardEntry> batch, const ModelSpec& spec,
              const cpu::CpuKvCache& cache);

  Eigen::Index rows() const { return total_rows_; }
  const std::vector<int32_t>& token_ids() const { return token_ids_; }  // per row
  const std::vector<int32_t>& positions() const { return positions_; }  // per row

  // Writes row r of `k` and `v` ([rows][kv_heads * head_dim]) into the cache slot of row r's
  // token in `layer`, then attention of `q` ([rows][heads * head_dim], scores scaled by
  // 1 / sqrt(head_dim)) over the cache into `out` (q's shape).
  // REQUIRES: `cache` is the one this step was planned for.
  void attend(cpu::CpuKvCache& cache, int32_t layer, const cpu::MatrixCRef& q,
              const cpu::MatrixCRef& k, const cpu::MatrixCRef& v, cpu::MatrixRef out) const;

  // [num_sampling][h.cols()]: the row of `h` ([rows][*]) holding the last token of each entry
  // with samples == true, in batch order.
  cpu::RowMatrix sampling_rows(const cpu::MatrixCRef& h) const;

 private:
  int32_t num_heads_ = 0;
  Eigen::Index prefill_rows_ = 0;
  Eigen::Index total_rows_ = 0;
  std::vector<int32_t> token_ids_;
  std::vector<int32_t> positions_;
  std::vector<int64_t> slot_mapping_;
  std::vector<int32_t> query_indptr_;        // prefill entries, into the prefill rows
  std::vector<Eigen::Index> sampling_rows_;  // batch order
  KvBatchTables prefill_tables_, decode_tables_;
};

}  // namespace kvlab
