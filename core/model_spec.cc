#include "core/model_spec.h"

namespace kvlab {

bool ModelSpec::gated_mlp() const { return family_catalog().get(family).gated_mlp; }
bool ModelSpec::has_biases() const { return family_catalog().get(family).biases; }
bool ModelSpec::learned_positions() const { return family_catalog().get(family).learned_positions; }

int64_t ModelSpec::params_per_layer() const {
  const int64_t h = hidden_size;
  const int64_t q = static_cast<int64_t>(num_heads) * head_dim;
  const int64_t kv = static_cast<int64_t>(num_kv_heads) * head_dim;
  const int64_t ffn = ffn_size;
  int64_t attention = h * q + 2 * h * kv + q * h;
  int64_t mlp = (gated_mlp() ? 3 : 2) * h * ffn;
  int64_t norms = 2 * h;
  if (has_biases()) {
    attention += q + 2 * kv + h;  // q, k, v, out
    mlp += ffn + h;               // fc1, fc2
    norms *= 2;                   // LayerNorm bias
  }
  return attention + mlp + norms;
}

int64_t ModelSpec::num_params() const {
  const int64_t h = hidden_size;
  const int64_t embeddings = static_cast<int64_t>(vocab_size) * h;
  const int64_t positions = learned_positions() ? (int64_t{max_seq_len} + 2) * h : 0;
  const int64_t final_norm = has_biases() ? 2 * h : h;
  return num_layers * params_per_layer() + 2 * embeddings + positions + final_norm;
}

}  // namespace kvlab
