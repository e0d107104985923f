// LlamaModel: a Llama-style decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU MLP)
// for any llama-family ModelSpec shape; a DecoderModel (decoder_model.h: the step contract,
// the equivalences it gives, thread safety). Per layer:
//   h += o_proj(attention(rope(q), rope(k), v)), q k v = qkv_proj(rms_norm(h))
//   h += down_proj(silu(gate) * up),             gate up = gate_up_proj(rms_norm(h))
// then logits = lm_head(rms_norm(h)) for the sampling rows. No biases anywhere.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/kv_cache_manager.h"
#include "core/model_spec.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/cpu/tensor.h"
#include "kernels/model/decoder_model.h"
#include "kernels/model/llama_weights.h"
#include "kernels/model/tensor_parallel.h"
#include "kernels/model/weight_source.h"

namespace kvlab {

struct LlamaOptions {
  float rms_norm_eps = 1e-5f;  // Llama 2 / 3
};

class LlamaModel : public DecoderModel {
 public:
  // Throws InputError when `spec` is not a runnable llama shape (validate_llama_spec), cannot
  // be split over shard.size ranks (model.tensor_parallel), or the source lacks a tensor.
  // With shard.size > 1 this is rank shard.rank of a tensor-parallel model
  // (kernels/model/tensor_parallel.h): it holds its slice and its forward joins the others'.
  LlamaModel(ModelSpec spec, const WeightSource& source, LlamaOptions options = {},
             TpShard shard = {});

  const ModelSpec& spec() const override { return spec_; }
  const ModelSpec& rank_spec() const override { return tp_.rank_spec(); }
  const LlamaWeights& weights() const { return weights_; }

  // DecoderModel::forward. Throws InputError for a token id outside the vocabulary.
  cpu::RowMatrix forward(std::span<const ForwardEntry> batch,
                         cpu::CpuKvCache& cache) const override;

 private:
  ModelSpec spec_;
  LlamaOptions options_;
  TensorParallelRank tp_;
  LlamaWeights weights_;
};

// Registers the "llama" family in the CPU model families (kernels/model/decoder_model.h).
void register_llama_family(Registry<DecoderModel, DecoderModelInit>& families);

}  // namespace kvlab
