#include "kernels/model/opt_model.h"

#include <memory>
#include <utility>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/model/decoder_step.h"

namespace kvlab {

OptModel::OptModel(ModelSpec spec, const WeightSource& source, OptOptions options,
                   TpShard shard)
    : spec_(std::move(spec)), options_(options), tp_((validate_opt_spec(spec_), spec_), shard) {
  weights_ = load_opt_weights(spec_, source, tp_);
}

cpu::RowMatrix OptModel::forward(std::span<const ForwardEntry> batch,
                                 cpu::CpuKvCache& cache) const {
  const ModelSpec& local = tp_.rank_spec();  // this rank's heads
  const DecoderStep step(batch, local, cache);
  const Eigen::Index rows = step.rows();
  const Eigen::Index hidden = spec_.hidden_size;
  const Eigen::Index width = static_cast<Eigen::Index>(spec_.num_heads) * spec_.head_dim;
  const Eigen::Index local_width = static_cast<Eigen::Index>(local.num_heads) * spec_.head_dim;
  const int32_t rank = tp_.rank();
  const Eigen::Index first_token = tp_.vocab().first(rank);

  // The residual stream, one row per token: token embedding (this rank's vocabulary rows,
  // summed over ranks) + learned position embedding.
  cpu::RowMatrix h = cpu::RowMatrix::Zero(rows, hidden);
  for (Eigen::Index r = 0; r < rows; ++r) {
    const int32_t position = step.positions()[static_cast<size_t>(r)];
    check_opt_positions(spec_, position, int64_t{position} + 1);
    const Eigen::Index row = step.token_ids()[static_cast<size_t>(r)] - first_token;
    if (row >= 0 && row < weights_.embed_tokens.rows()) h.row(r) = weights_.embed_tokens.row(row);
  }
  tp_.all_reduce(h);
  for (Eigen::Index r = 0; r < rows; ++r) {
    h.row(r) += weights_.embed_positions.row(step.positions()[static_cast<size_t>(r)] +
                                             kOptPositionOffset);
  }

  const float eps = options_.layer_norm_eps;
  cpu::RowMatrix x(rows, hidden);
  cpu::RowMatrix qkv(rows, 3 * local_width);  // this rank's heads
  cpu::RowMatrix attn(rows, width);           // every head, after the gather
  cpu::RowMatrix act(rows, spec_.ffn_size);   // every ffn column, after the gather
  for (int32_t l = 0; l < spec_.num_layers; ++l) {
    const OptLayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    // Attention block: h += out_proj(attention(qkv_proj(layer_norm(h)) + qkv_bias)) + out_bias.
    cpu::layer_norm(h, w.attn_norm_weight, w.attn_norm_bias, eps, x);
    cpu::linear(x, w.qkv_proj, w.qkv_bias, qkv);
    step.attend(cache, l, qkv.leftCols(local_width), qkv.middleCols(local_width, local_width),
                qkv.rightCols(local_width), tp_.block(attn, tp_.q_columns()));
    tp_.gather(attn, tp_.q_columns());
    cpu::linear_accumulate(attn, w.out_proj, w.out_bias, tp_.block(h, tp_.hidden()));
    tp_.gather(h, tp_.hidden());
    // MLP block: h += fc2(relu(fc1(layer_norm(h)) + fc1_bias)) + fc2_bias.
    cpu::layer_norm(h, w.mlp_norm_weight, w.mlp_norm_bias, eps, x);
    cpu::MatrixRef local_act = tp_.block(act, tp_.ffn());
    cpu::linear(x, w.fc1, w.fc1_bias, local_act);
    cpu::relu(local_act, local_act);
    tp_.gather(act, tp_.ffn());
    cpu::linear_accumulate(act, w.fc2, w.fc2_bias, tp_.block(h, tp_.hidden()));
    tp_.gather(h, tp_.hidden());
  }

  // The last token of each sampling entry, in batch order, through the final norm and head
  // (each rank its vocabulary columns).
  cpu::RowMatrix last = step.sampling_rows(h);
  cpu::layer_norm(last, weights_.final_norm_weight, weights_.final_norm_bias, eps, last);
  cpu::RowMatrix logits(last.rows(), spec_.vocab_size);
  cpu::linear(last, weights_.lm_head, tp_.block(logits, tp_.vocab()));
  tp_.gather(logits, tp_.vocab());
  return logits;
}

void register_opt_family(Registry<DecoderModel, DecoderModelInit>& families) {
  families.add(
      {.name = "opt",
       .factory = [](const DecoderModelInit& init) -> std::unique_ptr<DecoderModel> {
         return std::make_unique<OptModel>(init.spec, init.source, OptOptions{}, init.shard);
       },
       .description =
           "learned positions, pre-LayerNorm, multi-head attention with biases, ReLU MLP (OPT)"});
}

}  // namespace kvlab
