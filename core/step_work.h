// StepWork: the work of one engine step in FLOPs and device-memory (HBM) bytes, counted from
// the model's shape, per GPU under tensor parallelism. Written once here and read by the
// roofline cost model (sim/roofline_cost_model.h, which turns it into seconds) and by the
// Engine (which turns it into each step's MFU and MBU against the hardware's peaks).
//
// The counts (a conservative model in the spirit of Vidur's and LLMCompass' rooflines):
//
//  gemm       every weight matmul of every layer over the step's T tokens, plus the LM head
//             over the S sampled rows: FLOPs 2*T*layers*W_layer/tp + 2*S*hidden*vocab/tp;
//             the weights are read once per step: (layers*W_layer + hidden*vocab if S > 0)
//             * dtype/tp bytes. Nothing when T = 0.
//  attention  prefill chunk [s, s+c): causal, so its queries attend to c*s + c(c+1)/2
//             (query, key) pairs; it reads the cached prefix's KV and writes its own:
//             (s + c) * kv_token bytes. Decode with context n: n pairs, n * kv_token bytes
//             read. Each pair costs 4 * heads/tp * head_dim * layers FLOPs (QK^T and PV).
//             Prefill and decode are kept apart (separate kernels).
//  copy       device-to-device KV copies (copy-on-write, fork copies): read + write,
//             2 * slots * kv_token bytes.
//
// kv_token = model.kv_bytes_per_slot() / tp, in the KV cache's dtype (memory.kv_dtype, with
// its scales; core/kv_dtype.h): a quantized cache reads and copies fewer bytes, while the weights
// keep the model's dtype_bytes. Not counted: activations' memory traffic (the
// GEMMs are dominated by weights or FLOPs, attention by KV reads), norms, biases, and swaps
// (they cross the host link, not HBM alone).
//
// Thread safety: a WorkCounter is immutable after construction; count() is safe to call
// concurrently.
#pragma once

#include <cstdint>
#include <vector>

#include "core/cost_model.h"
#include "core/model_spec.h"
#include "core/scheduler.h"

namespace kvlab {

// The sums a step's work is counted from; sums_of() derives them from a shape or a plan.
struct StepSums {
  double tokens = 0;                  // prompt tokens + decodes
  double sampled = 0;                 // LM-head rows (StepShape::num_sampled)
  double prefill_pairs = 0;           // causal (query, key) pairs of the prefill chunks
  double prefill_tokens_touched = 0;  // KV positions prefill chunks read or write
  double decode_pairs = 0;            // context positions decodes attend to
  double device_copy_slots = 0;       // slots copied within the device
};
StepSums sums_of(const StepShape& step);
// The same sums as sums_of(describe_step(plan)), without building the shape. REQUIRES: read
// before the step is applied (like describe_step).
StepSums sums_of(const SchedulerOutput& plan);

struct StepWork {
  double gemm_flops = 0, gemm_bytes = 0;
  double prefill_attention_flops = 0, prefill_attention_bytes = 0;
  double decode_attention_flops = 0, decode_attention_bytes = 0;
  double copy_bytes = 0;
  double flops() const { return gemm_flops + prefill_attention_flops + decode_attention_flops; }
  double bytes() const {
    return gemm_bytes + prefill_attention_bytes + decode_attention_bytes + copy_bytes;
  }
};

class WorkCounter {
 public:
  // The whole model on each of `tensor_parallel` GPUs. REQUIRES: tensor_parallel >= 1.
  WorkCounter(const ModelSpec& model, int32_t tensor_parallel);
  // A pipeline stage's share: `layers` of the model's layers, and the LM head or not (the
  // last stage's). kv_bytes_per_token() is then the KV of those layers. REQUIRES:
  // tensor_parallel >= 1, 1 <= layers <= model.num_layers.
  WorkCounter(const ModelSpec& model, int32_t tensor_parallel, int32_t layers, bool lm_head);
  StepWork count(const StepSums& sums) const;
  // Bytes (read + write) that copying `slots` KV slots within the device moves.
  double copy_bytes(double slots) const { return 2.0 * slots * kv_bytes_per_token_; }
  double kv_bytes_per_token() const { return kv_bytes_per_token_; }  // per GPU

 private:
  double dtype_bytes_ = 0;
  double layer_weight_params_ = 0;       // matmul weights of all layers, per GPU
  double lm_head_params_ = 0;            // per GPU
  double kv_bytes_per_token_ = 0;        // per GPU
  double attention_flops_per_pair_ = 0;  // per GPU, all layers
};

// Model FLOPs utilization and memory-bandwidth utilization of a step that did `work` in
// `seconds` on a device with these peaks: work / (seconds * peak). NaN when a peak or the
// time is not positive.
double utilization(double amount, double seconds, double peak_per_s);

}  // namespace kvlab
