#include "kernels/cuda/sampling.h"

#include <string>

#include "core/errors.h"
#include "kernels/cpu/sampling.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/sampling_kernels.h"

namespace kvlab::cuda {

sampling::RowSpec row_spec(const SampleDraw& draw, int64_t history_begin) {
  sampling::RowSpec s;
  s.row = draw.row;
  s.position = draw.position;
  s.seed = draw.params.seed;
  s.temperature = draw.params.temperature;
  s.top_k = draw.params.top_k;
  s.top_p = draw.params.top_p;
  s.repetition_penalty = draw.params.repetition_penalty;
  s.sample_index = draw.sample_index;
  s.history_begin = history_begin;
  s.history_end = history_begin;
  if (draw.params.repetition_penalty != 1.0f) {
    s.history_end += static_cast<int64_t>(draw.history.size());
  }
  return s;
}

void DeviceSampler::sample(const float* logits, int64_t stride, int64_t rows, int32_t vocab,
                           std::span<const SampleDraw> draws, int32_t* out, cudaStream_t stream) {
  check_invariant(vocab > 0 && vocab <= kMaxSamplingVocab && stride >= vocab && rows >= 0,
                  "DeviceSampler: vocab " + std::to_string(vocab) + ", stride " +
                      std::to_string(stride) + ", rows " + std::to_string(rows));
  check_invariant(draws.size() <= 0x7fffffffu, "DeviceSampler: too many draws");
  if (draws.empty()) return;
  specs_.clear();
  history_.clear();
  bool any_penalty = false;
  for (const SampleDraw& draw : draws) {
    cpu::validate(draw.params);
    check_invariant_lazy(draw.row >= 0 && draw.row < rows, [&] {
      return "DeviceSampler: row " + std::to_string(draw.row) + " outside [0, " +
             std::to_string(rows) + ")";
    });
    specs_.push_back(row_spec(draw, static_cast<int64_t>(history_.size())));
    const sampling::RowSpec& s = specs_.back();
    if (s.history_end > s.history_begin) {
      history_.insert(history_.end(), draw.history.begin(), draw.history.end());
      any_penalty = true;
    }
  }
  staged_.clear();
  const size_t spec_offset = staged_.add(specs_);
  const size_t history_offset = staged_.add(history_);
  staged_.upload(stream);
  check_cuda(
      launch_sample(logits, stride, vocab, staged_.device<const sampling::RowSpec>(spec_offset),
                    static_cast<int32_t>(draws.size()),
                    staged_.device<const int32_t>(history_offset), any_penalty, out, stream),
      "DeviceSampler::sample");
}

}  // namespace kvlab::cuda
