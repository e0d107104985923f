#include "kernels/cuda/opt_weights.h"

#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/dummy_weights.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/weight_upload.h"
#include "kernels/model/opt_weights.h"
#include "kernels/model/weight_source.h"

namespace kvlab::cuda {

CudaOptWeights::CudaOptWeights(const ModelSpec& spec, DType dtype, uint64_t seed, Source source,
                               cudaStream_t stream)
    : DeviceWeights(dtype, source) {
  const int64_t hidden = spec.hidden_size;
  const int64_t width = int64_t{spec.num_heads} * spec.head_dim;
  const int64_t ffn = spec.ffn_size;
  const int64_t vocab = spec.vocab_size;
  const int64_t position_rows = int64_t{spec.max_seq_len} + kOptPositionOffset;

  WeightLayout layout(dtype_bytes(dtype));
  embed_tokens_ = layout.take(vocab * hidden);
  embed_positions_ = layout.take(position_rows * hidden);
  layers_.resize(static_cast<size_t>(spec.num_layers));
  for (Layer& l : layers_) {
    l.attn_norm_weight = layout.take(hidden);
    l.attn_norm_bias = layout.take(hidden);
    l.qkv_proj = layout.take(3 * width * hidden);
    l.qkv_bias = layout.take(3 * width);
    l.out_proj = layout.take(hidden * width);
    l.out_bias = layout.take(hidden);
    l.mlp_norm_weight = layout.take(hidden);
    l.mlp_norm_bias = layout.take(hidden);
    l.fc1 = layout.take(ffn * hidden);
    l.fc1_bias = layout.take(ffn);
    l.fc2 = layout.take(hidden * ffn);
    l.fc2_bias = layout.take(hidden);
  }
  final_norm_weight_ = layout.take(hidden);
  final_norm_bias_ = layout.take(hidden);
  lm_head_ = layout.take(vocab * hidden);
  storage_.reserve(layout.total());
  char* base = storage_.as<char>();

  dispatch_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (source == Source::kHost) {
      const OptWeights w = load_opt_weights(spec, DummyWeightSource(seed));
      DeviceBuffer staging;
      auto put = [&](size_t offset, const auto& tensor) {
        upload_weight<T>(tensor.data(), static_cast<int64_t>(tensor.size()), base + offset,
                         staging, stream);
      };
      put(embed_tokens_, w.embed_tokens);
      put(embed_positions_, w.embed_positions);
      for (size_t i = 0; i < layers_.size(); ++i) {
        const OptLayerWeights& s = w.layers[i];
        const Layer& d = layers_[i];
        put(d.attn_norm_weight, s.attn_norm_weight);
        put(d.attn_norm_bias, s.attn_norm_bias);
        put(d.qkv_proj, s.qkv_proj);
        put(d.qkv_bias, s.qkv_bias);
        put(d.out_proj, s.out_proj);
        put(d.out_bias, s.out_bias);
        put(d.mlp_norm_weight, s.mlp_norm_weight);
        put(d.mlp_norm_bias, s.mlp_norm_bias);
        put(d.fc1, s.fc1);
        put(d.fc1_bias, s.fc1_bias);
        put(d.fc2, s.fc2);
        put(d.fc2_bias, s.fc2_bias);
      }
      put(final_norm_weight_, w.final_norm_weight);
      put(final_norm_bias_, w.final_norm_bias);
      put(lm_head_, w.lm_head);
      // `w` is freed when this returns: the fp32 uploads must have read it.
      check_cuda(cudaStreamSynchronize(stream), "CudaOptWeights: upload");
      return;
    }
    // Device-generated: each Hugging Face tensor into its rows of the fused buffer (a vector
    // is one row of `cols` entries).
    auto fill = [&](size_t offset, int64_t first_row, int64_t rows, int64_t cols,
                    const std::string& name, bool is_vector) {
      fill_dummy_rows<T>(offset, first_row, rows, cols, seed, name, is_vector, stream);
    };
    fill(embed_tokens_, 0, vocab, hidden, "model.decoder.embed_tokens.weight", false);
    fill(embed_positions_, 0, position_rows, hidden, "model.decoder.embed_positions.weight",
         false);
    for (int32_t l = 0; l < spec.num_layers; ++l) {
      const std::string p = "model.decoder.layers." + std::to_string(l) + ".";
      const Layer& d = layers_[static_cast<size_t>(l)];
      fill(d.attn_norm_weight, 0, 1, hidden, p + "self_attn_layer_norm.weight", true);
      fill(d.attn_norm_bias, 0, 1, hidden, p + "self_attn_layer_norm.bias", true);
      const char* const names[] = {"q_proj", "k_proj", "v_proj"};
      for (int64_t i = 0; i < 3; ++i) {
        const std::string proj = p + "self_attn." + names[i];
        fill(d.qkv_proj, i * width, width, hidden, proj + ".weight", false);
        fill(d.qkv_bias, i, 1, width, proj + ".bias", true);  // row i of the [3][width] bias
      }
      fill(d.out_proj, 0, hidden, width, p + "self_attn.out_proj.weight", false);
      fill(d.out_bias, 0, 1, hidden, p + "self_attn.out_proj.bias", true);
      fill(d.mlp_norm_weight, 0, 1, hidden, p + "final_layer_norm.weight", true);
      fill(d.mlp_norm_bias, 0, 1, hidden, p + "final_layer_norm.bias", true);
      fill(d.fc1, 0, ffn, hidden, p + "fc1.weight", false);
      fill(d.fc1_bias, 0, 1, ffn, p + "fc1.bias", true);
      fill(d.fc2, 0, hidden, ffn, p + "fc2.weight", false);
      fill(d.fc2_bias, 0, 1, hidden, p + "fc2.bias", true);
    }
    fill(final_norm_weight_, 0, 1, hidden, "model.decoder.final_layer_norm.weight", true);
    fill(final_norm_bias_, 0, 1, hidden, "model.decoder.final_layer_norm.bias", true);
    fill(lm_head_, 0, vocab, hidden, "lm_head.weight", false);
    check_cuda(cudaStreamSynchronize(stream), "CudaOptWeights: fill");
  });
}

}  // namespace kvlab::cuda
