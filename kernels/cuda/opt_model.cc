#include "kernels/cuda/opt_model.h"

#include <utility>

#include "kernels/cuda/elementwise.h"
#include "kernels/model/opt_weights.h"

namespace kvlab::cuda {

namespace {

const ModelSpec& validated(const ModelSpec& spec) {
  validate_opt_spec(spec);
  return spec;
}

}  // namespace

CudaOptModel::CudaOptModel(ModelSpec spec, DType dtype, uint64_t weights_seed,
                           CudaOptWeights::Source source, cudaStream_t stream, OptOptions options)
    : CudaDecoderModel(std::move(spec), dtype, stream),
      options_(options),
      weights_(validated(spec_), dtype, weights_seed, source, stream) {}

const float* CudaOptModel::forward(std::span<const ForwardEntry> batch, CudaKvCache& cache,
                                   int64_t* num_sampling) {
  check_cache(cache);
  // The learned position table ends at max_seq_len: the CPU model's InputError, checked on
  // the host before anything is enqueued (the embedding kernel trusts its positions).
  for (const ForwardEntry& e : batch) {
    check_opt_positions(spec_, e.start, int64_t{e.start} + static_cast<int64_t>(e.tokens.size()));
  }
  const StepBatch step =
      build_step_batch(batch, spec_.vocab_size, spec_.max_seq_len, cache.num_slots());
  *num_sampling = static_cast<int64_t>(step.sample_rows.size());
  return dispatch_dtype(
      dtype_, [&](auto tag) { return forward_typed<typename decltype(tag)::type>(step, cache); });
}

template <typename T>
const float* CudaOptModel::forward_typed(const StepBatch& b, CudaKvCache& cache) {
  const int64_t rows = b.total_rows;
  const int64_t hidden = spec_.hidden_size;
  const auto hidden32 = static_cast<int32_t>(hidden);
  const int64_t width = int64_t{spec_.num_heads} * spec_.head_dim;
  const int64_t qkv_width = 3 * width;
  const int64_t ffn = spec_.ffn_size;
  const int64_t vocab = spec_.vocab_size;
  const auto num_sampling = static_cast<int64_t>(b.sample_rows.size());
  const float eps = options_.layer_norm_eps;

  const StepInputs in = upload_step(b, upload_, stream_);

  auto bytes = [](int64_t elements, size_t size) { return static_cast<size_t>(elements) * size; };
  h_.reserve(bytes(rows * hidden, sizeof(T)));
  x_.reserve(bytes(rows * hidden, sizeof(T)));
  qkv_.reserve(bytes(rows * qkv_width, sizeof(T)));
  attn_.reserve(bytes(rows * width, sizeof(T)));
  act_.reserve(bytes(rows * ffn, sizeof(T)));
  last_.reserve(bytes(num_sampling * hidden, sizeof(T)));
  logits_.reserve(bytes(num_sampling * vocab, sizeof(float)));
  T* h = h_.as<T>();
  T* x = x_.as<T>();
  T* qkv = qkv_.as<T>();
  T* attn = attn_.as<T>();
  T* act = act_.as<T>();
  T* last = last_.as<T>();
  float* logits = logits_.as<float>();
  const CudaOptWeights& w = weights_;

  // The residual stream, one row per token: token embedding + learned position embedding.
  token_position_embedding(w.at<T>(w.embed_tokens()), w.at<T>(w.embed_positions()), in.tokens,
                           in.positions, kOptPositionOffset, h, hidden, rows, hidden32, stream_);
  for (int32_t l = 0; l < spec_.num_layers; ++l) {
    const CudaOptWeights::Layer& lw = w.layer(l);
    // Attention block: h += out_proj(attention(qkv_proj(layer_norm(h)) + qkv_bias)) + out_bias.
    layer_norm(h, hidden, w.at<T>(lw.attn_norm_weight), w.at<T>(lw.attn_norm_bias), eps, x,
               hidden, rows, hidden32, stream_);
    linear(cublas_, x, hidden, w.at<T>(lw.qkv_proj), rows, hidden, qkv_width, qkv, qkv_width);
    add_bias(qkv, qkv_width, w.at<T>(lw.qkv_bias), rows, static_cast<int32_t>(qkv_width),
             stream_);
    attend_layer(b, in, upload_, qkv, qkv_width, width, width, cache, l, spec_.num_heads,
                 attn, decode_workspace_, decode_options_, stream_);
    linear(cublas_, attn, width, w.at<T>(lw.out_proj), rows, width, hidden, h, hidden, 1.0f);
    add_bias(h, hidden, w.at<T>(lw.out_bias), rows, hidden32, stream_);
    // MLP block: h += fc2(relu(fc1(layer_norm(h)) + fc1_bias)) + fc2_bias.
    layer_norm(h, hidden, w.at<T>(lw.mlp_norm_weight), w.at<T>(lw.mlp_norm_bias), eps, x, hidden,
               rows, hidden32, stream_);
    linear(cublas_, x, hidden, w.at<T>(lw.fc1), rows, hidden, ffn, act, ffn);
    bias_relu(act, ffn, w.at<T>(lw.fc1_bias), rows, static_cast<int32_t>(ffn), stream_);
    linear(cublas_, act, ffn, w.at<T>(lw.fc2), rows, ffn, hidden, h, hidden, 1.0f);
    add_bias(h, hidden, w.at<T>(lw.fc2_bias), rows, hidden32, stream_);
  }

  // The last token of each sampling entry, through the final LayerNorm and the LM head.
  gather_rows(static_cast<const T*>(h), hidden, in.sample_rows, last, hidden, num_sampling, hidden,
              stream_);
  layer_norm(last, hidden, w.at<T>(w.final_norm_weight()), w.at<T>(w.final_norm_bias()), eps, last,
             hidden, num_sampling, hidden32, stream_);
  linear(cublas_, static_cast<const T*>(last), hidden, w.at<T>(w.lm_head()), num_sampling, hidden,
         vocab, logits, vocab);
  return logits;
}

}  // namespace kvlab::cuda
