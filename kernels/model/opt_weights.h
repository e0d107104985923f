// The parameters of an OPT decoder (Hugging Face OPTForCausalLM, do_layer_norm_before = True:
// opt-1.3b and up, the catalog's 13b / 66b / 175b), held fp32 in the layouts the forward uses
// and loaded from a WeightSource by Hugging Face name ("model.decoder.layers.3.fc1.bias").
// As for Llama, q_proj, k_proj and v_proj (and their biases) are stored fused into qkv_proj
// so the three are one GEMM.
//
// Positions: Hugging Face's OPTLearnedPositionalEmbedding keeps an offset of 2 (a fairseq
// leftover: rows 0 and 1 were the padding index's), so the table has max_seq_len + 2 rows and
// the token at position p (0-based, no padding) reads row p + 2. kvlab keeps that rule, so a
// real checkpoint's table would load unchanged; rows 0 and 1 are loaded and never read.
//
// The LM head is untied (its own "lm_head.weight"; OPT ties it to embed_tokens), the same
// convention as ModelSpec::num_params(), which counts it apart. With dummy weights an untied
// head keeps the logits from favouring the input token itself.
#pragma once

#include <cstdint>
#include <vector>

#include "core/model_spec.h"
#include "kernels/cpu/tensor.h"
#include "kernels/model/tensor_parallel.h"
#include "kernels/model/weight_source.h"

namespace kvlab {

// The row of the position table the token at `position` reads (Hugging Face's offset).
inline constexpr int32_t kOptPositionOffset = 2;

// Shapes are the whole model's; a tensor-parallel rank holds the rows of its slice
// (load_opt_weights with a TensorParallelRank).
struct OptLayerWeights {
  Eigen::VectorXf attn_norm_weight;  // [hidden]          self_attn_layer_norm
  Eigen::VectorXf attn_norm_bias;    // [hidden]
  cpu::RowMatrix qkv_proj;           // [3 heads head_dim][hidden]   q, k, v rows
  Eigen::VectorXf qkv_bias;          // [3 heads head_dim]
  cpu::RowMatrix out_proj;           // [hidden][heads head_dim]
  Eigen::VectorXf out_bias;          // [hidden]
  Eigen::VectorXf mlp_norm_weight;   // [hidden]          final_layer_norm (of the layer)
  Eigen::VectorXf mlp_norm_bias;     // [hidden]
  cpu::RowMatrix fc1;                // [ffn][hidden]
  Eigen::VectorXf fc1_bias;          // [ffn]
  cpu::RowMatrix fc2;                // [hidden][ffn]
  Eigen::VectorXf fc2_bias;          // [hidden]
};

struct OptWeights {
  cpu::RowMatrix embed_tokens;     // [vocab][hidden]
  cpu::RowMatrix embed_positions;  // [max_seq_len + 2][hidden]   row p + 2 for position p
  std::vector<OptLayerWeights> layers;
  Eigen::VectorXf final_norm_weight;  // [hidden]   model.decoder.final_layer_norm
  Eigen::VectorXf final_norm_bias;    // [hidden]
  cpu::RowMatrix lm_head;             // [vocab][hidden]   untied

  // Every parameter held (rows 0 and 1 of the position table included).
  int64_t num_params() const;
};

// Throws InputError (field named) when `spec` is not a shape this model runs: non-positive
// sizes, num_kv_heads != num_heads (OPT is multi-head), or a family other than opt.
void validate_opt_spec(const ModelSpec& spec);

// Throws InputError (model.max_seq_len) naming the first position past the learned position
// table when positions [first, end) do not all lie in [0, spec.max_seq_len). The CPU and CUDA
// OPT models check every step with it before reading the table.
void check_opt_positions(const ModelSpec& spec, int64_t first, int64_t end);

// REQUIRES: validate_opt_spec(spec) passes.
OptWeights load_opt_weights(const ModelSpec& spec, const WeightSource& source);
// The slice `tp`'s rank holds (kernels/model/tensor_parallel.h): qkv_proj and qkv_bias the q,
// k, v rows of its heads; out_proj, fc2 and their biases its hidden rows; fc1 and fc1_bias its
// ffn rows; embed_tokens and lm_head its vocabulary rows; the norms and the position table
// whole. One rank: the whole model.
OptWeights load_opt_weights(const ModelSpec& spec, const WeightSource& source,
                            const TensorParallelRank& tp);

}  // namespace kvlab
