#include "kernels/model/decoder_step.h"

#include <string>

#include "core/errors.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cache_write.h"

namespace kvlab {

DecoderStep::DecoderStep(std::span<const ForwardEntry> batch, const ModelSpec& spec,
                         const cpu::CpuKvCache& cache)
    : num_heads_(spec.num_heads) {
  check_invariant(cache.num_layers() == spec.num_layers &&
                      cache.num_kv_heads() == spec.num_kv_heads &&
                      cache.head_dim() == spec.head_dim,
                  "DecoderModel::forward: cache not shaped for model '" + spec.name + "'");
  std::vector<size_t> order;  // entry indices, prefills then decodes
  for (size_t e = 0; e < batch.size(); ++e) {
    check_invariant(
        !batch[e].tokens.empty() && batch[e].start >= 0,
        "DecoderModel::forward: entry " + std::to_string(e) + " has no tokens or a negative start");
    if (batch[e].tokens.size() > 1) order.push_back(e);
  }
  const size_t num_prefills = order.size();
  for (size_t e = 0; e < batch.size(); ++e) {
    if (batch[e].tokens.size() == 1) order.push_back(e);
  }

  std::vector<Eigen::Index> row_end(batch.size());  // one past each entry's last row
  std::vector<KvLayout> prefill_layouts, decode_layouts;
  std::vector<int32_t> prefill_context, decode_context;
  query_indptr_.push_back(0);
  for (size_t i = 0; i < order.size(); ++i) {
    const ForwardEntry& entry = batch[order[i]];
    const auto n = static_cast<int32_t>(entry.tokens.size());
    for (int32_t t = 0; t < n; ++t) {
      const int32_t id = entry.tokens[static_cast<size_t>(t)];
      if (id < 0 || id >= spec.vocab_size) {
        throw InputError("", 0, "token_ids",
                         "token id " + std::to_string(id) + " at position " +
                             std::to_string(entry.start + t) + " is outside the vocabulary of " +
                             std::to_string(spec.vocab_size));
      }
      token_ids_.push_back(id);
      positions_.push_back(entry.start + t);
    }
    cpu::append_slot_mapping(entry.layout, entry.start, n, slot_mapping_);
    total_rows_ += n;
    row_end[order[i]] = total_rows_;
    if (i < num_prefills) {
      prefill_rows_ += n;
      query_indptr_.push_back(static_cast<int32_t>(prefill_rows_));
      prefill_layouts.push_back(entry.layout);
      prefill_context.push_back(entry.start + n);
    } else {
      decode_layouts.push_back(entry.layout);
      decode_context.push_back(entry.start + n);
    }
  }
  for (size_t e = 0; e < batch.size(); ++e) {
    if (batch[e].samples) sampling_rows_.push_back(row_end[e] - 1);
  }

  // Which slots each sequence reads, per attention kernel; checked against the arena.
  if (!prefill_layouts.empty()) {
    prefill_tables_ = KvBatchTables::build(prefill_layouts, prefill_context, cache.num_slots());
  }
  if (!decode_layouts.empty()) {
    decode_tables_ = KvBatchTables::build(decode_layouts, decode_context, cache.num_slots());
  }
  check_invariant(prefill_layouts.empty() || decode_layouts.empty() ||
                      (prefill_tables_.kind() == decode_tables_.kind() &&
                       prefill_tables_.block_size() == decode_tables_.block_size()),
                  "DecoderModel::forward: prefill and decode layouts of different kinds");
}

void DecoderStep::attend(cpu::CpuKvCache& cache, int32_t layer, const cpu::MatrixCRef& q,
                         const cpu::MatrixCRef& k, const cpu::MatrixCRef& v,
                         cpu::MatrixRef out) const {
  const cpu::KvLayerStore arena = cache.store(layer);
  cpu::write_kv(k, v, slot_mapping_, arena);
  const Eigen::Index decode_rows = total_rows_ - prefill_rows_;
  if (prefill_rows_ > 0) {
    cpu::prefill_attention(q.topRows(prefill_rows_), query_indptr_, prefill_tables_.view(),
                           arena, num_heads_, out.topRows(prefill_rows_));
  }
  if (decode_rows > 0) {
    cpu::decode_attention(q.bottomRows(decode_rows), decode_tables_.view(), arena,
                          num_heads_, out.bottomRows(decode_rows));
  }
}

cpu::RowMatrix DecoderStep::sampling_rows(const cpu::MatrixCRef& h) const {
  check_invariant(h.rows() == total_rows_, "DecoderStep::sampling_rows: not one row per token");
  cpu::RowMatrix out(static_cast<Eigen::Index>(sampling_rows_.size()), h.cols());
  for (size_t i = 0; i < sampling_rows_.size(); ++i) {
    out.row(static_cast<Eigen::Index>(i)) = h.row(sampling_rows_[i]);
  }
  return out;
}

}  // namespace kvlab
