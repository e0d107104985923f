#include "kernels/cuda/llama_model.h"

#include <string>
#include <utility>

#include "core/errors.h"
#include "kernels/cuda/cache_ops.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_kv_tables.h"
#include "kernels/model/llama_weights.h"

namespace kvlab::cuda {

namespace {

const ModelSpec& validated(const ModelSpec& spec) {
  validate_llama_spec(spec);
  return spec;
}

}  // namespace

CudaLlamaModel::CudaLlamaModel(ModelSpec spec, DType dtype, uint64_t weights_seed,
                               CudaLlamaWeights::Source source, cudaStream_t stream,
                               LlamaOptions options)
    : CudaDecoderModel(std::move(spec), dtype, stream),
      options_(options),
      weights_(validated(spec_), dtype, weights_seed, source, stream),
      rotary_(spec_.head_dim, spec_.max_seq_len, spec_.rope_theta) {}

const float* CudaLlamaModel::forward(std::span<const ForwardEntry> batch, CudaKvCache& cache,
                                     int64_t* num_sampling) {
  check_cache(cache);
  const StepBatch step =
      build_step_batch(batch, spec_.vocab_size, rotary_.max_positions(), cache.num_slots());
  *num_sampling = static_cast<int64_t>(step.sample_rows.size());
  return dispatch_dtype(
      dtype_, [&](auto tag) { return forward_typed<typename decltype(tag)::type>(step, cache); });
}

template <typename T>
const float* CudaLlamaModel::forward_typed(const StepBatch& b, CudaKvCache& cache) {
  const int64_t rows = b.total_rows;
  const int64_t hidden = spec_.hidden_size;
  const int64_t q_width = int64_t{spec_.num_heads} * spec_.head_dim;
  const int64_t kv_width = int64_t{spec_.num_kv_heads} * spec_.head_dim;
  const int64_t qkv_width = q_width + 2 * kv_width;
  const int64_t ffn = spec_.ffn_size;
  const int64_t vocab = spec_.vocab_size;
  const auto num_sampling = static_cast<int64_t>(b.sample_rows.size());
  const int32_t heads = spec_.num_heads;
  const float eps = options_.rms_norm_eps;

  // The step's index arrays, in one upload.
  const StepInputs in = upload_step(b, upload_, stream_);

  auto bytes = [](int64_t elements, size_t size) { return static_cast<size_t>(elements) * size; };
  h_.reserve(bytes(rows * hidden, sizeof(T)));
  x_.reserve(bytes(rows * hidden, sizeof(T)));
  qkv_.reserve(bytes(rows * qkv_width, sizeof(T)));
  attn_.reserve(bytes(rows * q_width, sizeof(T)));
  gate_up_.reserve(bytes(rows * 2 * ffn, sizeof(T)));
  act_.reserve(bytes(rows * ffn, sizeof(T)));
  last_.reserve(bytes(num_sampling * hidden, sizeof(T)));
  logits_.reserve(bytes(num_sampling * vocab, sizeof(float)));
  T* h = h_.as<T>();
  T* x = x_.as<T>();
  T* qkv = qkv_.as<T>();
  T* attn = attn_.as<T>();
  T* gate_up = gate_up_.as<T>();
  T* act = act_.as<T>();
  T* last = last_.as<T>();
  float* logits = logits_.as<float>();
  const CudaLlamaWeights& w = weights_;

  // The residual stream: one row per token.
  gather_rows(w.at<T>(w.embed_tokens()), hidden, in.tokens, h, hidden, rows, hidden, stream_);
  for (int32_t l = 0; l < spec_.num_layers; ++l) {
    const CudaLlamaWeights::Layer& lw = w.layer(l);
    // Attention block: h += o_proj(attention(rope(qkv_proj(rms_norm(h))))).
    rms_norm(h, hidden, w.at<T>(lw.input_norm), eps, x, hidden, rows, static_cast<int32_t>(hidden),
             stream_);
    linear(cublas_, x, hidden, w.at<T>(lw.qkv_proj), rows, hidden, qkv_width, qkv, qkv_width);
    // q and k heads are adjacent at the start of each qkv row: one rotation covers both.
    apply_rotary(qkv, qkv_width, rows, spec_.num_heads + spec_.num_kv_heads, in.positions, rotary_,
                 stream_);
    attend_layer(b, in, upload_, qkv, qkv_width, q_width, kv_width, cache, l, heads, attn,
                 decode_workspace_, decode_options_, stream_);
    linear(cublas_, attn, q_width, w.at<T>(lw.o_proj), rows, q_width, hidden, h, hidden, 1.0f);
    // MLP block: h += down_proj(silu(gate) * up), gate and up from rms_norm(h).
    rms_norm(h, hidden, w.at<T>(lw.post_norm), eps, x, hidden, rows, static_cast<int32_t>(hidden),
             stream_);
    linear(cublas_, x, hidden, w.at<T>(lw.gate_up_proj), rows, hidden, 2 * ffn, gate_up, 2 * ffn);
    silu_and_mul(gate_up, 2 * ffn, act, ffn, rows, static_cast<int32_t>(ffn), stream_);
    linear(cublas_, act, ffn, w.at<T>(lw.down_proj), rows, ffn, hidden, h, hidden, 1.0f);
  }

  // The last token of each sampling entry, through the final norm and the LM head (fp32 out).
  gather_rows(static_cast<const T*>(h), hidden, in.sample_rows, last, hidden, num_sampling, hidden,
              stream_);
  rms_norm(last, hidden, w.at<T>(w.final_norm()), eps, last, hidden, num_sampling,
           static_cast<int32_t>(hidden), stream_);
  linear(cublas_, static_cast<const T*>(last), hidden, w.at<T>(w.lm_head()), num_sampling, hidden,
         vocab, logits, vocab);
  return logits;
}

}  // namespace kvlab::cuda
