#include "kernels/model/llama_model.h"

#include <memory>
#include <utility>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/rms_norm.h"
#include "kernels/cpu/rotary.h"
#include "kernels/model/decoder_step.h"

namespace kvlab {

LlamaModel::LlamaModel(ModelSpec spec, const WeightSource& source, LlamaOptions options,
                       TpShard shard)
    : spec_(std::move(spec)),
      options_(options),
      tp_((validate_llama_spec(spec_), spec_), shard) {
  weights_ = load_llama_weights(spec_, source, tp_);
}

cpu::RowMatrix LlamaModel::forward(std::span<const ForwardEntry> batch,
                                   cpu::CpuKvCache& cache) const {
  const ModelSpec& local = tp_.rank_spec();  // this rank's heads
  const DecoderStep step(batch, local, cache);
  const Eigen::Index rows = step.rows();
  const Eigen::Index hidden = spec_.hidden_size;
  const Eigen::Index q_width = static_cast<Eigen::Index>(spec_.num_heads) * spec_.head_dim;
  const Eigen::Index local_q = static_cast<Eigen::Index>(local.num_heads) * spec_.head_dim;
  const Eigen::Index local_kv = static_cast<Eigen::Index>(local.num_kv_heads) * spec_.head_dim;
  const int32_t rank = tp_.rank();
  const Eigen::Index first_token = tp_.vocab().first(rank);
  const Eigen::Index local_ffn = tp_.ffn().count(rank);

  // The residual stream, one row per token: this rank's vocabulary rows, summed over ranks.
  cpu::RowMatrix h = cpu::RowMatrix::Zero(rows, hidden);
  for (Eigen::Index r = 0; r < rows; ++r) {
    const Eigen::Index row = step.token_ids()[static_cast<size_t>(r)] - first_token;
    if (row >= 0 && row < weights_.embed_tokens.rows()) h.row(r) = weights_.embed_tokens.row(row);
  }
  tp_.all_reduce(h);

  cpu::RowMatrix x(rows, hidden);
  cpu::RowMatrix qkv(rows, local_q + 2 * local_kv);  // this rank's heads
  cpu::RowMatrix attn(rows, q_width);                // every head, after the gather
  cpu::RowMatrix gate_up(rows, 2 * local_ffn);
  cpu::RowMatrix act(rows, spec_.ffn_size);  // every ffn column, after the gather
  for (int32_t l = 0; l < spec_.num_layers; ++l) {
    const LlamaLayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    // Attention block: h += o_proj(attention(rope(qkv_proj(rms_norm(h))))).
    cpu::rms_norm(h, w.input_norm, options_.rms_norm_eps, x);
    cpu::linear(x, w.qkv_proj, qkv);
    auto q = qkv.leftCols(local_q);
    auto k = qkv.middleCols(local_q, local_kv);
    auto v = qkv.rightCols(local_kv);
    cpu::apply_rotary(q, spec_.head_dim, step.positions(), spec_.rope_theta);
    cpu::apply_rotary(k, spec_.head_dim, step.positions(), spec_.rope_theta);
    step.attend(cache, l, q, k, v, tp_.block(attn, tp_.q_columns()));
    tp_.gather(attn, tp_.q_columns());
    cpu::linear_accumulate(attn, w.o_proj, tp_.block(h, tp_.hidden()));
    tp_.gather(h, tp_.hidden());
    // MLP block: h += down_proj(silu(gate) * up), gate and up from rms_norm(h).
    cpu::rms_norm(h, w.post_norm, options_.rms_norm_eps, x);
    cpu::linear(x, w.gate_up_proj, gate_up);
    cpu::silu_and_mul(gate_up, tp_.block(act, tp_.ffn()));
    tp_.gather(act, tp_.ffn());
    cpu::linear_accumulate(act, w.down_proj, tp_.block(h, tp_.hidden()));
    tp_.gather(h, tp_.hidden());
  }

  // The last token of each sampling entry, in batch order, through the final norm and head
  // (each rank its vocabulary columns).
  cpu::RowMatrix last = step.sampling_rows(h);
  cpu::rms_norm(last, weights_.final_norm, options_.rms_norm_eps, last);
  cpu::RowMatrix logits(last.rows(), spec_.vocab_size);
  cpu::linear(last, weights_.lm_head, tp_.block(logits, tp_.vocab()));
  tp_.gather(logits, tp_.vocab());
  return logits;
}

void register_llama_family(Registry<DecoderModel, DecoderModelInit>& families) {
  families.add({.name = "llama",
                .factory = [](const DecoderModelInit& init) -> std::unique_ptr<DecoderModel> {
                  return std::make_unique<LlamaModel>(init.spec, init.source, LlamaOptions{},
                                                      init.shard);
                },
                .description = "RMSNorm, RoPE, grouped-query attention, SwiGLU MLP (Llama 2/3, "
                               "Mistral, Qwen2 shapes)"});
}

}  // namespace kvlab
