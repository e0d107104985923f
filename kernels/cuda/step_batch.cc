#include "kernels/cuda/step_batch.h"

#include <algorithm>
#include <string>

#include "core/errors.h"
#include "kernels/cpu/cache_write.h"

namespace kvlab::cuda {

int32_t StepBatch::max_decode_context() const {
  if (!decode_tables) return 0;
  const std::vector<int32_t>& lens = decode_tables->context_lens();
  return lens.empty() ? 0 : *std::max_element(lens.begin(), lens.end());
}

StepBatch build_step_batch(std::span<const ForwardEntry> batch, int32_t vocab_size,
                           int32_t max_positions, int64_t arena_slots) {
  std::vector<size_t> order;
  for (size_t e = 0; e < batch.size(); ++e) {
    check_invariant(
        !batch[e].tokens.empty() && batch[e].start >= 0,
        "cuda forward: entry " + std::to_string(e) + " has no tokens or a negative start");
    if (batch[e].tokens.size() > 1) order.push_back(e);
  }
  const size_t num_prefills = order.size();
  for (size_t e = 0; e < batch.size(); ++e) {
    if (batch[e].tokens.size() == 1) order.push_back(e);
  }

  StepBatch b;
  std::vector<int64_t> row_end(batch.size(), 0);
  std::vector<KvLayout> prefill_layouts, decode_layouts;
  std::vector<int32_t> prefill_context, decode_context;
  b.query_indptr.push_back(0);
  for (size_t i = 0; i < order.size(); ++i) {
    const ForwardEntry& entry = batch[order[i]];
    const auto n = static_cast<int32_t>(entry.tokens.size());
    const int64_t end = int64_t{entry.start} + n;
    check_invariant(end <= max_positions,
                    "cuda forward: positions up to " + std::to_string(end - 1) +
                        " exceed the model's " + std::to_string(max_positions) +
                        " (model.max_seq_len: llama's rotary table, OPT's learned positions)");
    for (int32_t t = 0; t < n; ++t) {
      const int32_t id = entry.tokens[static_cast<size_t>(t)];
      if (id < 0 || id >= vocab_size) {
        throw InputError("", 0, "token_ids",
                         "token id " + std::to_string(id) + " at position " +
                             std::to_string(entry.start + t) + " is outside the vocabulary of " +
                             std::to_string(vocab_size));
      }
      b.token_ids.push_back(id);
      b.positions.push_back(entry.start + t);
    }
    cpu::append_slot_mapping(entry.layout, entry.start, n, b.slot_mapping);
    b.total_rows += n;
    row_end[order[i]] = b.total_rows;
    if (i < num_prefills) {
      b.prefill_rows += n;
      b.query_indptr.push_back(static_cast<int32_t>(b.prefill_rows));
      b.max_prefill_q_len = std::max(b.max_prefill_q_len, n);
      prefill_layouts.push_back(entry.layout);
      prefill_context.push_back(static_cast<int32_t>(end));
    } else {
      decode_layouts.push_back(entry.layout);
      decode_context.push_back(static_cast<int32_t>(end));
    }
  }
  if (!prefill_layouts.empty()) {
    b.prefill_tables = KvBatchTables::build(prefill_layouts, prefill_context, arena_slots);
  }
  if (!decode_layouts.empty()) {
    b.decode_tables = KvBatchTables::build(decode_layouts, decode_context, arena_slots);
  }
  check_invariant(!b.prefill_tables || !b.decode_tables ||
                      (b.prefill_tables->kind() == b.decode_tables->kind() &&
                       b.prefill_tables->block_size() == b.decode_tables->block_size()),
                  "cuda forward: prefill and decode layouts of different kinds");
  for (size_t e = 0; e < batch.size(); ++e) {
    if (batch[e].samples) b.sample_rows.push_back(static_cast<int32_t>(row_end[e] - 1));
  }
  return b;
}

}  // namespace kvlab::cuda
