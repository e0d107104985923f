// OptModel: the OPT decoder (Hugging Face OPTForCausalLM with do_layer_norm_before = True, the
// architecture of opt-1.3b and up) for any opt-family ModelSpec shape; a DecoderModel
// (decoder_model.h: the step contract, the equivalences it gives, thread safety). For the
// token t at position p:
//   h = embed_tokens[t] + embed_positions[p + 2]            (opt_weights.h: HF's offset 2)
// then per layer (pre-LayerNorm, every LayerNorm with weight and bias, eps 1e-5):
//   h += out_proj(attention(q, k, v)) + out_bias,   q k v = qkv_proj(layer_norm(h)) + qkv_bias
//   h += fc2(relu(fc1(layer_norm(h)) + fc1_bias)) + fc2_bias
// with multi-head attention (num_kv_heads == num_heads), scores q . k / sqrt(head_dim), no
// rotary embedding; then logits = lm_head(final_layer_norm(h)) for the sampling rows.
// (HF scales q by 1 / sqrt(head_dim) after adding its bias; the attention kernels scale the
// scores instead, the same product.)
#pragma once

#include <span>

#include "core/model_spec.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/cpu/tensor.h"
#include "kernels/model/decoder_model.h"
#include "kernels/model/opt_weights.h"
#include "kernels/model/tensor_parallel.h"
#include "kernels/model/weight_source.h"

namespace kvlab {

struct OptOptions {
  float layer_norm_eps = 1e-5f;  // torch.nn.LayerNorm's default, as OPT uses it
};

class OptModel : public DecoderModel {
 public:
  // Throws InputError when `spec` is not a runnable opt shape (validate_opt_spec), cannot be
  // split over shard.size ranks (model.tensor_parallel), or the source lacks a tensor. With
  // shard.size > 1 this is rank shard.rank of a tensor-parallel model
  // (kernels/model/tensor_parallel.h).
  OptModel(ModelSpec spec, const WeightSource& source, OptOptions options = {},
           TpShard shard = {});

  const ModelSpec& spec() const override { return spec_; }
  const ModelSpec& rank_spec() const override { return tp_.rank_spec(); }
  const OptWeights& weights() const { return weights_; }

  // DecoderModel::forward. Throws InputError for a token id outside the vocabulary or a
  // position >= spec().max_seq_len (past the learned position table).
  cpu::RowMatrix forward(std::span<const ForwardEntry> batch,
                         cpu::CpuKvCache& cache) const override;

 private:
  ModelSpec spec_;
  OptOptions options_;
  TensorParallelRank tp_;
  OptWeights weights_;
};

// Registers the "opt" family in the CPU model families (kernels/model/decoder_model.h).
void register_opt_family(Registry<DecoderModel, DecoderModelInit>& families);

}  // namespace kvlab
