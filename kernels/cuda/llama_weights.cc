#include "kernels/cuda/llama_weights.h"

#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/dummy_weights.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/weight_upload.h"
#include "kernels/model/llama_weights.h"
#include "kernels/model/weight_source.h"

namespace kvlab::cuda {

CudaLlamaWeights::CudaLlamaWeights(const ModelSpec& spec, DType dtype, uint64_t seed, Source source,
                                   cudaStream_t stream)
    : DeviceWeights(dtype, source) {
  const int64_t hidden = spec.hidden_size;
  const int64_t q_width = int64_t{spec.num_heads} * spec.head_dim;
  const int64_t kv_width = int64_t{spec.num_kv_heads} * spec.head_dim;
  const int64_t ffn = spec.ffn_size;
  const int64_t vocab = spec.vocab_size;

  WeightLayout layout(dtype_bytes(dtype));
  embed_tokens_ = layout.take(vocab * hidden);
  layers_.resize(static_cast<size_t>(spec.num_layers));
  for (Layer& l : layers_) {
    l.input_norm = layout.take(hidden);
    l.qkv_proj = layout.take((q_width + 2 * kv_width) * hidden);
    l.o_proj = layout.take(hidden * q_width);
    l.post_norm = layout.take(hidden);
    l.gate_up_proj = layout.take(2 * ffn * hidden);
    l.down_proj = layout.take(hidden * ffn);
  }
  final_norm_ = layout.take(hidden);
  lm_head_ = layout.take(vocab * hidden);
  storage_.reserve(layout.total());
  char* base = storage_.as<char>();

  dispatch_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (source == Source::kHost) {
      const LlamaWeights w = load_llama_weights(spec, DummyWeightSource(seed));
      DeviceBuffer staging;
      auto put = [&](size_t offset, const float* data, int64_t count) {
        upload_weight<T>(data, count, base + offset, staging, stream);
      };
      put(embed_tokens_, w.embed_tokens.data(), w.embed_tokens.size());
      for (size_t i = 0; i < layers_.size(); ++i) {
        const LlamaLayerWeights& src = w.layers[i];
        put(layers_[i].input_norm, src.input_norm.data(), src.input_norm.size());
        put(layers_[i].qkv_proj, src.qkv_proj.data(), src.qkv_proj.size());
        put(layers_[i].o_proj, src.o_proj.data(), src.o_proj.size());
        put(layers_[i].post_norm, src.post_norm.data(), src.post_norm.size());
        put(layers_[i].gate_up_proj, src.gate_up_proj.data(), src.gate_up_proj.size());
        put(layers_[i].down_proj, src.down_proj.data(), src.down_proj.size());
      }
      put(final_norm_, w.final_norm.data(), w.final_norm.size());
      put(lm_head_, w.lm_head.data(), w.lm_head.size());
      // `w` is freed when this returns: the fp32 uploads must have read it.
      check_cuda(cudaStreamSynchronize(stream), "CudaLlamaWeights: upload");
      return;
    }
    // Device-generated: each Hugging Face tensor into its rows of the fused buffer.
    auto fill = [&](size_t offset, int64_t first_row, int64_t rows, int64_t cols,
                    const std::string& name, bool is_vector) {
      fill_dummy_rows<T>(offset, first_row, rows, cols, seed, name, is_vector, stream);
    };
    fill(embed_tokens_, 0, vocab, hidden, "model.embed_tokens.weight", false);
    for (int32_t l = 0; l < spec.num_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      const Layer& d = layers_[static_cast<size_t>(l)];
      fill(d.input_norm, 0, 1, hidden, p + "input_layernorm.weight", true);
      fill(d.qkv_proj, 0, q_width, hidden, p + "self_attn.q_proj.weight", false);
      fill(d.qkv_proj, q_width, kv_width, hidden, p + "self_attn.k_proj.weight", false);
      fill(d.qkv_proj, q_width + kv_width, kv_width, hidden, p + "self_attn.v_proj.weight", false);
      fill(d.o_proj, 0, hidden, q_width, p + "self_attn.o_proj.weight", false);
      fill(d.post_norm, 0, 1, hidden, p + "post_attention_layernorm.weight", true);
      fill(d.gate_up_proj, 0, ffn, hidden, p + "mlp.gate_proj.weight", false);
      fill(d.gate_up_proj, ffn, ffn, hidden, p + "mlp.up_proj.weight", false);
      fill(d.down_proj, 0, hidden, ffn, p + "mlp.down_proj.weight", false);
    }
    fill(final_norm_, 0, 1, hidden, "model.norm.weight", true);
    fill(lm_head_, 0, vocab, hidden, "lm_head.weight", false);
    check_cuda(cudaStreamSynchronize(stream), "CudaLlamaWeights: fill");
  });
}

}  // namespace kvlab::cuda
