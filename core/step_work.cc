#include "core/step_work.h"

#include <limits>

namespace kvlab {

namespace {

// Matmul weights of one decoder layer: q, k, v, o projections and the MLP (norms excluded).
double layer_matmul_params(const ModelSpec& m) {
  const double h = m.hidden_size;
  const double q = static_cast<double>(m.num_heads) * m.head_dim;
  const double kv = static_cast<double>(m.num_kv_heads) * m.head_dim;
  const double mlp = (m.gated_mlp() ? 3.0 : 2.0) * h * m.ffn_size;
  return h * q + 2.0 * h * kv + q * h + mlp;
}

// Causal pairs of prefill chunk [s, s + c), and the positions it touches.
void add_chunk(StepSums& sums, double s, double c) {
  sums.prefill_pairs += c * s + c * (c + 1.0) / 2.0;
  sums.prefill_tokens_touched += s + c;
}

}  // namespace

StepSums sums_of(const StepShape& step) {
  StepSums sums;
  sums.tokens = static_cast<double>(step.num_tokens());
  sums.sampled = static_cast<double>(step.num_sampled());
  for (const StepShape::PrefillChunk& chunk : step.prefills) {
    add_chunk(sums, static_cast<double>(chunk.start), static_cast<double>(chunk.num_tokens));
  }
  for (int64_t context : step.decode_context_lens)
    sums.decode_pairs += static_cast<double>(context);
  for (const KvCopy& c : step.device_copies)
    sums.device_copy_slots += static_cast<double>(c.num_slots);
  return sums;
}

StepSums sums_of(const SchedulerOutput& plan) {
  StepSums sums;
  int64_t tokens = 0;
  int64_t sampled = 0;
  for (const PrefillChunk& chunk : plan.prefills) {
    add_chunk(sums, static_cast<double>(chunk.start), static_cast<double>(chunk.num_tokens));
    tokens += chunk.num_tokens;
    sampled += chunk.samples ? 1 : 0;
  }
  for (const Sequence* seq : plan.decodes) {
    sums.decode_pairs += static_cast<double>(static_cast<int64_t>(seq->num_computed) + 1);
  }
  tokens += static_cast<int64_t>(plan.decodes.size());
  sampled += static_cast<int64_t>(plan.decodes.size());
  sums.tokens = static_cast<double>(tokens);
  sums.sampled = static_cast<double>(sampled);
  for (const KvCopy& c : plan.copies) sums.device_copy_slots += static_cast<double>(c.num_slots);
  return sums;
}

WorkCounter::WorkCounter(const ModelSpec& model, int32_t tp)
    : WorkCounter(model, tp, model.num_layers, true) {}

WorkCounter::WorkCounter(const ModelSpec& model, int32_t tp, int32_t layers, bool lm_head)
    : dtype_bytes_(model.dtype_bytes),
      layer_weight_params_(layers * layer_matmul_params(model) / tp),
      lm_head_params_(lm_head ? static_cast<double>(model.hidden_size) * model.vocab_size / tp
                              : 0.0),
      // kv_bytes_per_slot() is a multiple of num_layers (2 x layers x ...): exact per layer.
      kv_bytes_per_token_(
          static_cast<double>(layers == model.num_layers
                                  ? model.kv_bytes_per_slot()
                                  : model.kv_bytes_per_slot() / model.num_layers * layers) /
          tp),
      attention_flops_per_pair_(4.0 * (static_cast<double>(model.num_heads) / tp) * model.head_dim *
                                layers) {}

StepWork WorkCounter::count(const StepSums& s) const {
  StepWork w;
  if (s.tokens > 0) {
    w.gemm_flops = 2.0 * s.tokens * layer_weight_params_ + 2.0 * s.sampled * lm_head_params_;
    w.gemm_bytes = (layer_weight_params_ + (s.sampled > 0 ? lm_head_params_ : 0.0)) * dtype_bytes_;
  }
  w.prefill_attention_flops = s.prefill_pairs * attention_flops_per_pair_;
  w.prefill_attention_bytes = s.prefill_tokens_touched * kv_bytes_per_token_;
  w.decode_attention_flops = s.decode_pairs * attention_flops_per_pair_;
  w.decode_attention_bytes = s.decode_pairs * kv_bytes_per_token_;
  w.copy_bytes = copy_bytes(s.device_copy_slots);
  return w;
}

double utilization(double amount, double seconds, double peak_per_s) {
  if (!(seconds > 0 && peak_per_s > 0)) return std::numeric_limits<double>::quiet_NaN();
  return amount / (seconds * peak_per_s);
}

}  // namespace kvlab
