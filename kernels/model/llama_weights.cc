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
  const Eigen::Index hidden = spec.hidden_size;
  const Eigen::Index q_width = static_cast<Eigen::Index>(spec.num_heads) * spec.head_dim;
  const Eigen::Index kv_width = static_cast<Eigen::Index>(spec.num_kv_heads) * spec.head_dim;
  const Eigen::Index ffn = spec.ffn_size;

  LlamaWeights w;
  w.embed_tokens = load_matrix(source, "model.embed_tokens.weight", spec.vocab_size, hidden);
  w.layers.resize(static_cast<size_t>(spec.num_layers));
  for (int32_t l = 0; l < spec.num_layers; ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    LlamaLayerWeights& layer = w.layers[static_cast<size_t>(l)];
    layer.input_norm = load_vector(source, prefix + "input_layernorm.weight", hidden);
    layer.qkv_proj.resize(q_width + 2 * kv_width, hidden);
    load_rows(source, prefix + "self_attn.q_proj.weight", layer.qkv_proj, 0, q_width);
    load_rows(source, prefix + "self_attn.k_proj.weight", layer.qkv_proj, q_width, kv_width);
    load_rows(source, prefix + "self_attn.v_proj.weight", layer.qkv_proj, q_width + kv_width,
              kv_width);
    layer.o_proj = load_matrix(source, prefix + "self_attn.o_proj.weight", hidden, q_width);
    layer.post_norm = load_vector(source, prefix + "post_attention_layernorm.weight", hidden);
    layer.gate_up_proj.resize(2 * ffn, hidden);
    load_rows(source, prefix + "mlp.gate_proj.weight", layer.gate_up_proj, 0, ffn);
    load_rows(source, prefix + "mlp.up_proj.weight", layer.gate_up_proj, ffn, ffn);
    layer.down_proj = load_matrix(source, prefix + "mlp.down_proj.weight", hidden, ffn);
  }
  w.final_norm = load_vector(source, "model.norm.weight", hidden);
  w.lm_head = load_matrix(source, "lm_head.weight", spec.vocab_size, hidden);
  return w;
}

}  // namespace kvlab
