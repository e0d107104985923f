#include "kernels/model/llama_weights.h"

#include <string>

#include "core/errors.h"
#include "kernels/model/decoder_model.h"

namespace kvlab {

int64_t LlamaWeights::num_params() const {
  int64_t n = embed_tokens.size() + final_norm.size() + lm_head.size();
  for (const LlamaLayerWeights& l : layers) {
    n += l.input_norm.size() + l.qkv_proj.size() + l.o_proj.size() + l.post_norm.size() +
         l.gate_up_proj.size() + l.down_proj.size();
  }
  return n;
}

void validate_llama_spec(const ModelSpec& spec) {
  if (spec.family != "llama") {
    throw InputError("", 0, "model.family",
                     "model '" + spec.name + "' is of family '" + spec.family +
                         "'; the Llama model runs family 'llama' (RMSNorm, RoPE, SwiGLU)");
  }
  validate_decoder_sizes(spec);
  if (spec.head_dim % 2 != 0) {
    throw InputError("", 0, "model.head_dim",
                     "model '" + spec.name + "': rotary embedding needs an even head_dim, got " +
                         std::to_string(spec.head_dim));
  }
  if (spec.num_heads % spec.num_kv_heads != 0) {
    throw InputError("", 0, "model.num_kv_heads",
                     "model '" + spec.name + "': " + std::to_string(spec.num_heads) +
                         " heads are not a multiple of " + std::to_string(spec.num_kv_heads) +
                         " KV heads");
  }
  if (!(spec.rope_theta > 0.0)) {
    throw InputError(
        "", 0, "model.rope_theta",
        "model '" + spec.name + "': must be > 0, got " + std::to_string(spec.rope_theta));
  }
}

LlamaWeights load_llama_weights(const ModelSpec& spec, const WeightSource& source) {
  return load_llama_weights(spec, source, TensorParallelRank(spec, TpShard{}));
}

LlamaWeights load_llama_weights(const ModelSpec& spec, const WeightSource& source,
                                const TensorParallelRank& tp) {
  const Eigen::Index hidden = spec.hidden_size;
  const Eigen::Index hd = spec.head_dim;
  const Eigen::Index q_width = static_cast<Eigen::Index>(spec.num_heads) * hd;
  const Eigen::Index kv_width = static_cast<Eigen::Index>(spec.num_kv_heads) * hd;
  const Eigen::Index ffn = spec.ffn_size;
  const int32_t r = tp.rank();
  // This rank's rows of each split tensor.
  const Eigen::Index q_first = tp.first_head() * hd;
  const Eigen::Index q_rows = static_cast<Eigen::Index>(tp.rank_spec().num_heads) * hd;
  const Eigen::Index kv_first = tp.first_kv_head() * hd;
  const Eigen::Index kv_rows = static_cast<Eigen::Index>(tp.rank_spec().num_kv_heads) * hd;
  const Eigen::Index h_first = tp.hidden().first(r), h_rows = tp.hidden().count(r);
  const Eigen::Index f_first = tp.ffn().first(r), f_rows = tp.ffn().count(r);
  const Eigen::Index v_first = tp.vocab().first(r), v_rows = tp.vocab().count(r);

  LlamaWeights w;
  w.embed_tokens.resize(v_rows, hidden);
  load_row_slice(source, "model.embed_tokens.weight", spec.vocab_size, v_first, v_rows,
                 w.embed_tokens, 0);
  w.layers.resize(static_cast<size_t>(spec.num_layers));
  for (int32_t l = 0; l < spec.num_layers; ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    LlamaLayerWeights& layer = w.layers[static_cast<size_t>(l)];
    layer.input_norm = load_vector(source, prefix + "input_layernorm.weight", hidden);
    layer.qkv_proj.resize(q_rows + 2 * kv_rows, hidden);
    load_row_slice(source, prefix + "self_attn.q_proj.weight", q_width, q_first, q_rows,
                   layer.qkv_proj, 0);
    load_row_slice(source, prefix + "self_attn.k_proj.weight", kv_width, kv_first, kv_rows,
                   layer.qkv_proj, q_rows);
    load_row_slice(source, prefix + "self_attn.v_proj.weight", kv_width, kv_first, kv_rows,
                   layer.qkv_proj, q_rows + kv_rows);
    layer.o_proj.resize(h_rows, q_width);
    load_row_slice(source, prefix + "self_attn.o_proj.weight", hidden, h_first, h_rows,
                   layer.o_proj, 0);
    layer.post_norm = load_vector(source, prefix + "post_attention_layernorm.weight", hidden);
    layer.gate_up_proj.resize(2 * f_rows, hidden);
    load_row_slice(source, prefix + "mlp.gate_proj.weight", ffn, f_first, f_rows,
                   layer.gate_up_proj, 0);
    load_row_slice(source, prefix + "mlp.up_proj.weight", ffn, f_first, f_rows,
                   layer.gate_up_proj, f_rows);
    layer.down_proj.resize(h_rows, ffn);
    load_row_slice(source, prefix + "mlp.down_proj.weight", hidden, h_first, h_rows,
                   layer.down_proj, 0);
  }
  w.final_norm = load_vector(source, "model.norm.weight", hidden);
  w.lm_head.resize(v_rows, hidden);
  load_row_slice(source, "lm_head.weight", spec.vocab_size, v_first, v_rows, w.lm_head, 0);
  return w;
}

}  // namespace kvlab
