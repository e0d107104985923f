// WeightSource: where a model's parameters come from, tensor by tensor, by Hugging Face name
// (Llama: "model.layers.3.self_attn.q_proj.weight"; OPT:
// "model.decoder.layers.3.self_attn.q_proj.bias"), 2-D shapes [out][in], row-major fp32.
// The model asks for each tensor once while it loads and never again, so a checkpoint
// reader (safetensors) can plug in later without touching the forward.
//
// DummyWeightSource is vLLM's `--load-format dummy` for kvlab: every tensor drawn from its own
// std::mt19937_64 stream seeded by (seed, tensor name), so a tensor does not depend on the
// order tensors are loaded in, and scaled so activations stay O(1) through any depth:
//   - embeddings ("embed_tokens", OPT's "embed_positions"): uniform in [-1, 1);
//   - biases (1-D, name ends ".bias"): uniform in [-0.1, 0.1);
//   - other 1-D tensors (norm weights): 1 + uniform in [-0.1, 0.1);
//   - other 2-D [out][in] tensors: uniform in [-a, a) with a = sqrt(3 / in), variance 1 / in,
//     so a projection keeps the variance of its input (LM head logits come out ~ N(0, 1),
//     spread enough that greedy tokens vary).
// (vLLM's dummy weights are uniform in [-1e-3, 1e-3]; with those every logit is ~1e-3 and the
// greedy tokens of a tiny model barely depend on the input.)
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "kernels/cpu/tensor.h"

namespace kvlab {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // Writes tensor `name` of shape `shape` (row-major) into `out`.
  // REQUIRES: out.size() == product of shape. Throws InputError when the source has no such
  // tensor or holds it with another shape.
  virtual void load(const std::string& name, std::span<const int64_t> shape,
                    std::span<float> out) const = 0;
};

class DummyWeightSource : public WeightSource {
 public:
  explicit DummyWeightSource(uint64_t seed) : seed_(seed) {}
  void load(const std::string& name, std::span<const int64_t> shape,
            std::span<float> out) const override;

 private:
  uint64_t seed_;
};

// Loading helpers the model families share (each checks the shape through the source).
// Tensor `name` ([rows][dst.cols()]) into rows [first_row, first_row + rows) of `dst`: how
// fused projections (q, k, v stacked) are filled.
void load_rows(const WeightSource& source, const std::string& name, cpu::RowMatrix& dst,
               Eigen::Index first_row, Eigen::Index rows);
cpu::RowMatrix load_matrix(const WeightSource& source, const std::string& name, Eigen::Index rows,
                           Eigen::Index cols);
// Tensor `name` ([size]) into entries [first, first + size) of `dst` (fused biases).
void load_segment(const WeightSource& source, const std::string& name, Eigen::VectorXf& dst,
                  Eigen::Index first, Eigen::Index size);
Eigen::VectorXf load_vector(const WeightSource& source, const std::string& name, Eigen::Index size);
// A tensor-parallel rank's slice (kernels/model/tensor_parallel.h): rows [first, first + count)
// of tensor `name` ([full_rows][dst.cols()]) into rows [dst_row, dst_row + count) of `dst`, and
// entries [first, first + count) of a 1-D tensor of `full_size` into `dst` from `dst_first`.
// The whole tensor is read (a source yields whole tensors) and the slice kept.
void load_row_slice(const WeightSource& source, const std::string& name, Eigen::Index full_rows,
                    Eigen::Index first, Eigen::Index count, cpu::RowMatrix& dst,
                    Eigen::Index dst_row);
void load_segment_slice(const WeightSource& source, const std::string& name,
                        Eigen::Index full_size, Eigen::Index first, Eigen::Index count,
                        Eigen::VectorXf& dst, Eigen::Index dst_first);

}  // namespace kvlab
