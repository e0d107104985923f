#include "kernels/model/llama_model.h"

#include <string>
#include <utility>

#include "core/errors.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cache_write.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/rms_norm.h"
#include "kernels/cpu/rotary.h"
#include "kernels/kv_cache_view.h"

namespace kvlab {

namespace {

// The batch rearranged for the kernels: multi-token entries (prefills) first, then single
// tokens (decodes), so each attention kernel reads one contiguous band of rows. `row_end[e]`
// is one past the row of entry e's last token, in that order.
struct StepPlan {
  std::vector<size_t> order;  // entry indices, prefills then decodes
  size_t num_prefills = 0;
  Eigen::Index prefill_rows = 0;
  Eigen::Index total_rows = 0;
  std::vector<Eigen::Index> row_end;  // per entry (batch order)
  std::vector<int32_t> token_ids;     // per row
  std::vector<int32_t> positions;     // per row
  std::vector<int64_t> slot_mapping;  // per row
  std::vector<int32_t> query_indptr;  // prefill entries
  std::vector<KvLayout> prefill_layouts, decode_layouts;
  std::vector<int32_t> prefill_context, decode_context;
};

StepPlan plan_step(std::span<const ForwardEntry> batch, int32_t vocab_size) {
  StepPlan p;
  for (size_t e = 0; e < batch.size(); ++e) {
    check_invariant(
        !batch[e].tokens.empty() && batch[e].start >= 0,
        "LlamaModel::forward: entry " + std::to_string(e) + " has no tokens or a negative start");
    if (batch[e].tokens.size() > 1) p.order.push_back(e);
  }
  p.num_prefills = p.order.size();
  for (size_t e = 0; e < batch.size(); ++e) {
    if (batch[e].tokens.size() == 1) p.order.push_back(e);
  }
  p.row_end.resize(batch.size());
  p.query_indptr.push_back(0);
  for (size_t i = 0; i < p.order.size(); ++i) {
    const ForwardEntry& entry = batch[p.order[i]];
    const auto n = static_cast<int32_t>(entry.tokens.size());
    for (int32_t t = 0; t < n; ++t) {
      const int32_t id = entry.tokens[static_cast<size_t>(t)];
      if (id < 0 || id >= vocab_size) {
        throw InputError("", 0, "token_ids",
                         "token id " + std::to_string(id) + " at position " +
                             std::to_string(entry.start + t) + " is outside the vocabulary of " +
                             std::to_string(vocab_size));
      }
      p.token_ids.push_back(id);
      p.positions.push_back(entry.start + t);
    }
    cpu::append_slot_mapping(entry.layout, entry.start, n, p.slot_mapping);
    p.total_rows += n;
    p.row_end[p.order[i]] = p.total_rows;
    if (i < p.num_prefills) {
      p.prefill_rows += n;
      p.query_indptr.push_back(static_cast<int32_t>(p.prefill_rows));
      p.prefill_layouts.push_back(entry.layout);
      p.prefill_context.push_back(entry.start + n);
    } else {
      p.decode_layouts.push_back(entry.layout);
      p.decode_context.push_back(entry.start + n);
    }
  }
  return p;
}

}  // namespace

LlamaModel::LlamaModel(ModelSpec spec, const WeightSource& source, LlamaOptions options)
    : spec_(std::move(spec)), options_(options) {
  validate_llama_spec(spec_);
  weights_ = load_llama_weights(spec_, source);
}

cpu::CpuKvCache LlamaModel::make_kv_cache(int64_t num_slots) const {
  return cpu::CpuKvCache(spec_.num_layers, num_slots, spec_.num_kv_heads, spec_.head_dim);
}

cpu::RowMatrix LlamaModel::forward(std::span<const ForwardEntry> batch,
                                   cpu::CpuKvCache& cache) const {
  check_invariant(cache.num_layers() == spec_.num_layers &&
                      cache.num_kv_heads() == spec_.num_kv_heads &&
                      cache.head_dim() == spec_.head_dim,
                  "LlamaModel::forward: cache not shaped for model '" + spec_.name + "'");
  const StepPlan plan = plan_step(batch, spec_.vocab_size);
  const Eigen::Index rows = plan.total_rows;
  const Eigen::Index decode_rows = rows - plan.prefill_rows;
  const Eigen::Index hidden = spec_.hidden_size;
  const Eigen::Index q_width = static_cast<Eigen::Index>(spec_.num_heads) * spec_.head_dim;
  const Eigen::Index kv_width = static_cast<Eigen::Index>(spec_.num_kv_heads) * spec_.head_dim;
  const Eigen::Index ffn = spec_.ffn_size;

  // Which slots each sequence reads, per attention kernel; checked against the arena.
  KvBatchTables prefill_tables, decode_tables;
  if (plan.prefill_rows > 0) {
    prefill_tables =
        KvBatchTables::build(plan.prefill_layouts, plan.prefill_context, cache.num_slots());
  }
  if (decode_rows > 0) {
    decode_tables =
        KvBatchTables::build(plan.decode_layouts, plan.decode_context, cache.num_slots());
  }
  check_invariant(plan.prefill_rows == 0 || decode_rows == 0 ||
                      (prefill_tables.kind() == decode_tables.kind() &&
                       prefill_tables.block_size() == decode_tables.block_size()),
                  "LlamaModel::forward: prefill and decode layouts of different kinds");

  // The residual stream, one row per token.
  cpu::RowMatrix h(rows, hidden);
  for (Eigen::Index r = 0; r < rows; ++r) {
    h.row(r) = weights_.embed_tokens.row(plan.token_ids[static_cast<size_t>(r)]);
  }

  cpu::RowMatrix x(rows, hidden);
  cpu::RowMatrix qkv(rows, q_width + 2 * kv_width);
  cpu::RowMatrix attn(rows, q_width);
  cpu::RowMatrix gate_up(rows, 2 * ffn);
  cpu::RowMatrix act(rows, ffn);
  for (int32_t l = 0; l < spec_.num_layers; ++l) {
    const LlamaLayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    // Attention block: h += o_proj(attention(rope(qkv_proj(rms_norm(h))))).
    cpu::rms_norm(h, w.input_norm, options_.rms_norm_eps, x);
    cpu::linear(x, w.qkv_proj, qkv);
    auto q = qkv.leftCols(q_width);
    auto k = qkv.middleCols(q_width, kv_width);
    auto v = qkv.rightCols(kv_width);
    cpu::apply_rotary(q, spec_.head_dim, plan.positions, spec_.rope_theta);
    cpu::apply_rotary(k, spec_.head_dim, plan.positions, spec_.rope_theta);
    const KvArenaView<float> arena = cache.layer(l);
    cpu::write_kv(k, v, plan.slot_mapping, arena);
    if (plan.prefill_rows > 0) {
      cpu::prefill_attention(q.topRows(plan.prefill_rows), plan.query_indptr, prefill_tables.view(),
                             arena.as_const(), spec_.num_heads, attn.topRows(plan.prefill_rows));
    }
    if (decode_rows > 0) {
      cpu::decode_attention(q.bottomRows(decode_rows), decode_tables.view(), arena.as_const(),
                            spec_.num_heads, attn.bottomRows(decode_rows));
    }
    cpu::linear_accumulate(attn, w.o_proj, h);
    // MLP block: h += down_proj(silu(gate) * up), gate and up from rms_norm(h).
    cpu::rms_norm(h, w.post_norm, options_.rms_norm_eps, x);
    cpu::linear(x, w.gate_up_proj, gate_up);
    cpu::silu_and_mul(gate_up, act);
    cpu::linear_accumulate(act, w.down_proj, h);
  }

  // The last token of each sampling entry, in batch order, through the final norm and head.
  Eigen::Index num_sampling = 0;
  for (const ForwardEntry& entry : batch) num_sampling += entry.samples ? 1 : 0;
  cpu::RowMatrix last(num_sampling, hidden);
  Eigen::Index out_row = 0;
  for (size_t e = 0; e < batch.size(); ++e) {
    if (batch[e].samples) last.row(out_row++) = h.row(plan.row_end[e] - 1);
  }
  cpu::rms_norm(last, weights_.final_norm, options_.rms_norm_eps, last);
  cpu::RowMatrix logits(num_sampling, spec_.vocab_size);
  cpu::linear(last, weights_.lm_head, logits);
  return logits;
}

}  // namespace kvlab
