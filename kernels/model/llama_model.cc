#include "kernels/model/llama_model.h"

#include <memory>
#include <utility>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/rms_norm.h"
#include "kernels/cpu/rotary.h"
#include "kernels/model/decoder_step.h"

namespace kvlab {

LlamaModel::LlamaModel(ModelSpec spec, const WeightSource& source, LlamaOptions options)
    : spec_(std::move(spec)), options_(options) {
  validate_llama_spec(spec_);
  weights_ = load_llama_weights(spec_, source);
}

cpu::RowMatrix LlamaModel::forward(std::span<const ForwardEntry> batch,
                                   cpu::CpuKvCache& cache) const {
  const DecoderStep step(batch, spec_, cache);
  const Eigen::Index rows = step.rows();
  const Eigen::Index hidden = spec_.hidden_size;
  const Eigen::Index q_width = static_cast<Eigen::Index>(spec_.num_heads) * spec_.head_dim;
  const Eigen::Index kv_width = static_cast<Eigen::Index>(spec_.num_kv_heads) * spec_.head_dim;
  const Eigen::Index ffn = spec_.ffn_size;

  // The residual stream, one row per token.
  cpu::RowMatrix h(rows, hidden);
  for (Eigen::Index r = 0; r < rows; ++r) {
    h.row(r) = weights_.embed_tokens.row(step.token_ids()[static_cast<size_t>(r)]);
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
    cpu::apply_rotary(q, spec_.head_dim, step.positions(), spec_.rope_theta);
    cpu::apply_rotary(k, spec_.head_dim, step.positions(), spec_.rope_theta);
    step.attend(cache, l, q, k, v, attn);
    cpu::linear_accumulate(attn, w.o_proj, h);
    // MLP block: h += down_proj(silu(gate) * up), gate and up from rms_norm(h).
    cpu::rms_norm(h, w.post_norm, options_.rms_norm_eps, x);
    cpu::linear(x, w.gate_up_proj, gate_up);
    cpu::silu_and_mul(gate_up, act);
    cpu::linear_accumulate(act, w.down_proj, h);
  }

  // The last token of each sampling entry, in batch order, through the final norm and head.
  cpu::RowMatrix last = step.sampling_rows(h);
  cpu::rms_norm(last, weights_.final_norm, options_.rms_norm_eps, last);
  cpu::RowMatrix logits(last.rows(), spec_.vocab_size);
  cpu::linear(last, weights_.lm_head, logits);
  return logits;
}

void register_llama_family(Registry<DecoderModel, DecoderModelInit>& families) {
  families.add({.name = "llama",
                .factory = [](const DecoderModelInit& init) -> std::unique_ptr<DecoderModel> {
                  return std::make_unique<LlamaModel>(init.spec, init.source);
                },
                .description = "RMSNorm, RoPE, grouped-query attention, SwiGLU MLP (Llama 2/3, "
                               "Mistral, Qwen2 shapes)"});
}

}  // namespace kvlab
