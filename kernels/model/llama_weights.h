// The parameters of a Llama-style decoder, held fp32 in the layouts the forward uses, and
// loaded from a WeightSource by Hugging Face name. Projections that read the same input are
// stored fused (as vLLM's QKVParallelLinear and MergedColumnParallelLinear do) so each is one
// GEMM: q_proj, k_proj and v_proj stacked into qkv_proj; gate_proj and up_proj into
// gate_up_proj.
#pragma once

#include <cstdint>
#include <vector>

#include "core/model_spec.h"
#include "kernels/cpu/tensor.h"
#include "kernels/model/tensor_parallel.h"
#include "kernels/model/weight_source.h"

namespace kvlab {

// Shapes are the whole model's; a tensor-parallel rank holds the rows of its slice
// (load_llama_weights with a TensorParallelRank).
struct LlamaLayerWeights {
  Eigen::VectorXf input_norm;   // [hidden]                 input_layernorm
  cpu::RowMatrix qkv_proj;      // [(heads + 2 kv_heads) head_dim][hidden]
  cpu::RowMatrix o_proj;        // [hidden][heads head_dim]
  Eigen::VectorXf post_norm;    // [hidden]                 post_attention_layernorm
  cpu::RowMatrix gate_up_proj;  // [2 ffn][hidden]          gate rows, then up rows
  cpu::RowMatrix down_proj;     // [hidden][ffn]
};

struct LlamaWeights {
  cpu::RowMatrix embed_tokens;  // [vocab][hidden]
  std::vector<LlamaLayerWeights> layers;
  Eigen::VectorXf final_norm;  // [hidden]                 model.norm
  cpu::RowMatrix lm_head;      // [vocab][hidden]          untied

  // Every parameter held (ModelSpec::num_params() counts the same).
  int64_t num_params() const;
};

// Throws InputError (field named) when `spec` is not a shape this model runs: non-positive
// sizes, odd head_dim, heads not a multiple of kv heads, or a family other than llama (the
// CPU back end picks the family's model through make_decoder_model; the CUDA back end runs
// llama only and uses this check to refuse the rest).
void validate_llama_spec(const ModelSpec& spec);

// REQUIRES: validate_llama_spec(spec) passes.
LlamaWeights load_llama_weights(const ModelSpec& spec, const WeightSource& source);
// The slice `tp`'s rank holds (kernels/model/tensor_parallel.h): qkv_proj the q, k, v rows of
// its heads; o_proj and down_proj its hidden rows; gate_up_proj its ffn rows of each;
// embed_tokens and lm_head its vocabulary rows; the norms whole. One rank: the whole model.
LlamaWeights load_llama_weights(const ModelSpec& spec, const WeightSource& source,
                                const TensorParallelRank& tp);

}  // namespace kvlab
