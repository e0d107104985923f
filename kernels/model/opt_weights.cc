#include "kernels/model/opt_weights.h"

#include <string>

#include "core/errors.h"
#include "kernels/model/decoder_model.h"

namespace kvlab {

int64_t OptWeights::num_params() const {
  int64_t n = embed_tokens.size() + embed_positions.size() + final_norm_weight.size() +
              final_norm_bias.size() + lm_head.size();
  for (const OptLayerWeights& l : layers) {
    n += l.attn_norm_weight.size() + l.attn_norm_bias.size() + l.qkv_proj.size() +
         l.qkv_bias.size() + l.out_proj.size() + l.out_bias.size() + l.mlp_norm_weight.size() +
         l.mlp_norm_bias.size() + l.fc1.size() + l.fc1_bias.size() + l.fc2.size() +
         l.fc2_bias.size();
  }
  return n;
}

void check_opt_positions(const ModelSpec& spec, int64_t first, int64_t end) {
  if (end <= spec.max_seq_len) return;
  const int64_t position = first >= spec.max_seq_len ? first : spec.max_seq_len;
  throw InputError("", 0, "model.max_seq_len",
                   "model '" + spec.name + "': position " + std::to_string(position) +
                       " is past the learned position table (max_seq_len " +
                       std::to_string(spec.max_seq_len) + ")");
}

void validate_opt_spec(const ModelSpec& spec) {
  if (spec.family != "opt") {
    throw InputError("", 0, "model.family",
                     "model '" + spec.name + "' is of family '" + spec.family +
                         "'; the OPT model runs family 'opt' (LayerNorm, learned positions, "
                         "ReLU MLP)");
  }
  validate_decoder_sizes(spec);
  if (spec.num_kv_heads != spec.num_heads) {
    throw InputError("", 0, "model.num_kv_heads",
                     "model '" + spec.name + "': OPT attention is multi-head, so num_kv_heads (" +
                         std::to_string(spec.num_kv_heads) + ") must equal num_heads (" +
                         std::to_string(spec.num_heads) + ")");
  }
}

OptWeights load_opt_weights(const ModelSpec& spec, const WeightSource& source) {
  return load_opt_weights(spec, source, TensorParallelRank(spec, TpShard{}));
}

OptWeights load_opt_weights(const ModelSpec& spec, const WeightSource& source,
                            const TensorParallelRank& tp) {
  const Eigen::Index hidden = spec.hidden_size;
  const Eigen::Index width = static_cast<Eigen::Index>(spec.num_heads) * spec.head_dim;
  const Eigen::Index ffn = spec.ffn_size;
  const int32_t r = tp.rank();
  // This rank's rows of each split tensor.
  const Eigen::Index q_first = tp.q_columns().first(r), q_rows = tp.q_columns().count(r);
  const Eigen::Index h_first = tp.hidden().first(r), h_rows = tp.hidden().count(r);
  const Eigen::Index f_first = tp.ffn().first(r), f_rows = tp.ffn().count(r);
  const Eigen::Index v_first = tp.vocab().first(r), v_rows = tp.vocab().count(r);

  OptWeights w;
  w.embed_tokens.resize(v_rows, hidden);
  load_row_slice(source, "model.decoder.embed_tokens.weight", spec.vocab_size, v_first, v_rows,
                 w.embed_tokens, 0);
  w.embed_positions = load_matrix(source, "model.decoder.embed_positions.weight",
                                  Eigen::Index{spec.max_seq_len} + kOptPositionOffset, hidden);
  w.layers.resize(static_cast<size_t>(spec.num_layers));
  for (int32_t l = 0; l < spec.num_layers; ++l) {
    const std::string prefix = "model.decoder.layers." + std::to_string(l) + ".";
    OptLayerWeights& layer = w.layers[static_cast<size_t>(l)];
    layer.attn_norm_weight = load_vector(source, prefix + "self_attn_layer_norm.weight", hidden);
    layer.attn_norm_bias = load_vector(source, prefix + "self_attn_layer_norm.bias", hidden);
    layer.qkv_proj.resize(3 * q_rows, hidden);
    layer.qkv_bias.resize(3 * q_rows);
    const char* const names[] = {"q_proj", "k_proj", "v_proj"};
    for (Eigen::Index i = 0; i < 3; ++i) {
      const std::string proj = prefix + "self_attn." + names[i];
      load_row_slice(source, proj + ".weight", width, q_first, q_rows, layer.qkv_proj,
                     i * q_rows);
      load_segment_slice(source, proj + ".bias", width, q_first, q_rows, layer.qkv_bias,
                         i * q_rows);
    }
    layer.out_proj.resize(h_rows, width);
    load_row_slice(source, prefix + "self_attn.out_proj.weight", hidden, h_first, h_rows,
                   layer.out_proj, 0);
    layer.out_bias.resize(h_rows);
    load_segment_slice(source, prefix + "self_attn.out_proj.bias", hidden, h_first, h_rows,
                       layer.out_bias, 0);
    layer.mlp_norm_weight = load_vector(source, prefix + "final_layer_norm.weight", hidden);
    layer.mlp_norm_bias = load_vector(source, prefix + "final_layer_norm.bias", hidden);
    layer.fc1.resize(f_rows, hidden);
    load_row_slice(source, prefix + "fc1.weight", ffn, f_first, f_rows, layer.fc1, 0);
    layer.fc1_bias.resize(f_rows);
    load_segment_slice(source, prefix + "fc1.bias", ffn, f_first, f_rows, layer.fc1_bias, 0);
    layer.fc2.resize(h_rows, ffn);
    load_row_slice(source, prefix + "fc2.weight", hidden, h_first, h_rows, layer.fc2, 0);
    layer.fc2_bias.resize(h_rows);
    load_segment_slice(source, prefix + "fc2.bias", hidden, h_first, h_rows, layer.fc2_bias, 0);
  }
  w.final_norm_weight = load_vector(source, "model.decoder.final_layer_norm.weight", hidden);
  w.final_norm_bias = load_vector(source, "model.decoder.final_layer_norm.bias", hidden);
  w.lm_head.resize(v_rows, hidden);
  load_row_slice(source, "lm_head.weight", spec.vocab_size, v_first, v_rows, w.lm_head, 0);
  return w;
}

}  // namespace kvlab
