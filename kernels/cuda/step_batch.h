// StepBatch: one engine step's ForwardEntries (kernels/model/llama_model.h) arranged on the
// host for the device forward, with the CPU model's conventions: rows of multi-token entries
// (prefill chunks) first, then single-token entries (decodes), each a contiguous band, so one
// prefill and one decode attention launch cover the batch. Logits come back for the last row
// of each entry that samples, in batch order.
//
// Pure host code, no CUDA calls (tested without a device).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kernels/kv_cache_view.h"
#include "kernels/model/llama_model.h"

namespace kvlab::cuda {

struct StepBatch {
  int64_t total_rows = 0;
  int64_t prefill_rows = 0;           // rows [0, prefill_rows) belong to prefill entries
  std::vector<int32_t> token_ids;     // per row
  std::vector<int32_t> positions;     // per row
  std::vector<int64_t> slot_mapping;  // per row: where its K/V goes
  std::vector<int32_t> query_indptr;  // per prefill entry, + 1: its rows
  int32_t max_prefill_q_len = 0;
  std::optional<KvBatchTables> prefill_tables;  // when prefill_rows > 0
  std::optional<KvBatchTables> decode_tables;   // when there are decode rows
  std::vector<int32_t> sample_rows;             // last row of each sampling entry, in batch order

  int64_t decode_rows() const { return total_rows - prefill_rows; }
  int32_t max_decode_context() const;
};

// Throws InputError for a token id outside [0, vocab_size) (as LlamaModel::forward does).
// REQUIRES (checked, InvariantError): entries non-empty with start >= 0; every position
// < max_positions (model.max_seq_len: the rotary or learned position table); layouts as KvBatchTables::build
// requires within `arena_slots`; prefill and decode layouts of one kind and block size.
StepBatch build_step_batch(std::span<const ForwardEntry> batch, int32_t vocab_size,
                           int32_t max_positions, int64_t arena_slots);

}  // namespace kvlab::cuda
