#include "core/model_spec.h"

namespace kvlab {

int64_t ModelSpec::params_per_layer() const {
  const int64_t h = hidden_size;
  const int64_t q = static_cast<int64_t>(num_heads) * head_dim;
  const int64_t kv = static_cast<int64_t>(num_kv_heads) * head_dim;
  const int64_t attention = h * q + 2 * h * kv + q * h;
  const int64_t mlp = (gated_mlp() ? 3 : 2) * h * static_cast<int64_t>(ffn_size);
  const int64_t norms = 2 * h;
  return attention + mlp + norms;
}

int64_t ModelSpec::num_params() const {
  const int64_t embeddings = static_cast<int64_t>(vocab_size) * hidden_size;
  return num_layers * params_per_layer() + 2 * embeddings + hidden_size;
}

Catalog<ModelSpec>& model_catalog() {
  static Catalog<ModelSpec> catalog("model");
  return catalog;
}

Catalog<HardwareSpec>& hardware_catalog() {
  static Catalog<HardwareSpec> catalog("hardware");
  return catalog;
}

}  // namespace kvlab
