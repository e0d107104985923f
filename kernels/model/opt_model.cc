#include "kernels/model/opt_model.h"

#include <memory>
#include <utility>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/model/decoder_step.h"

namespace kvlab {

OptModel::OptModel(ModelSpec spec, const WeightSource& source, OptOptions options)
    : spec_(std::move(spec)), options_(options) {
  validate_opt_spec(spec_);
  weights_ = load_opt_weights(spec_, source);
}

cpu::RowMatrix OptModel::forward(std::span<const ForwardEntry> batch,
                                 cpu::CpuKvCache& cache) const {
  const DecoderStep step(batch, spec_, cache);
  const Eigen::Index rows = step.rows();
  const Eigen::Index hidden = spec_.hidden_size;
  const Eigen::Index width = static_cast<Eigen::Index>(spec_.num_heads) * spec_.head_dim;
  const Eigen::Index ffn = spec_.ffn_size;

  // The residual stream, one row per token: token embedding + learned position embedding.
  cpu::RowMatrix h(rows, hidden);
  for (Eigen::Index r = 0; r < rows; ++r) {
    const int32_t position = step.positions()[static_cast<size_t>(r)];
    check_opt_positions(spec_, position, int64_t{position} + 1);
    h.row(r) = weights_.embed_tokens.row(step.token_ids()[static_cast<size_t>(r)]) +
               weights_.embed_positions.row(position + kOptPositionOffset);
  }

  const float eps = options_.layer_norm_eps;
  cpu::RowMatrix x(rows, hidden);
  cpu::RowMatrix qkv(rows, 3 * width);
  cpu::RowMatrix attn(rows, width);
  cpu::RowMatrix act(rows, ffn);
  for (int32_t l = 0; l < spec_.num_layers; ++l) {
    const OptLayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    // Attention block: h += out_proj(attention(qkv_proj(layer_norm(h)) + qkv_bias)) + out_bias.
    cpu::layer_norm(h, w.attn_norm_weight, w.attn_norm_bias, eps, x);
    cpu::linear(x, w.qkv_proj, w.qkv_bias, qkv);
    step.attend(cache, l, qkv.leftCols(width), qkv.middleCols(width, width), qkv.rightCols(width),
                attn);
    cpu::linear_accumulate(attn, w.out_proj, w.out_bias, h);
    // MLP block: h += fc2(relu(fc1(layer_norm(h)) + fc1_bias)) + fc2_bias.
    cpu::layer_norm(h, w.mlp_norm_weight, w.mlp_norm_bias, eps, x);
    cpu::linear(x, w.fc1, w.fc1_bias, act);
    cpu::relu(act, act);
    cpu::linear_accumulate(act, w.fc2, w.fc2_bias, h);
  }

  // The last token of each sampling entry, in batch order, through the final norm and head.
  cpu::RowMatrix last = step.sampling_rows(h);
  cpu::layer_norm(last, weights_.final_norm_weight, weights_.final_norm_bias, eps, last);
  cpu::RowMatrix logits(last.rows(), spec_.vocab_size);
  cpu::linear(last, weights_.lm_head, logits);
  return logits;
}

void register_opt_family(Registry<DecoderModel, DecoderModelInit>& families) {
  families.add(
      {.name = "opt",
       .factory = [](const DecoderModelInit& init) -> std::unique_ptr<DecoderModel> {
         return std::make_unique<OptModel>(init.spec, init.source);
       },
       .description =
           "learned positions, pre-LayerNorm, multi-head attention with biases, ReLU MLP (OPT)"});
}

}  // namespace kvlab
