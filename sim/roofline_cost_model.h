// RooflineCostModel ("roofline"): a step's time from the FLOPs and bytes of its work
// (core/step_work.h counts them), over the hardware's peak compute and memory bandwidth
// (scaled by backend.compute_efficiency and backend.bandwidth_efficiency), per GPU under
// tensor parallelism (TP splits the attention heads, KV heads, FFN and vocabulary evenly).
// Six terms, summed (the parts do not overlap: a conservative, explainable model in the
// spirit of Vidur's and LLMCompass' rooflines):
//
//  gemm       the weight matmuls and the LM head (step_work.h):
//             time = max(FLOPs / compute, bytes / bandwidth).
//  attention  time = roofline(prefill sums) + roofline(decode sums): separate kernels.
//  swap       swap_out then swap_in: slots * kv_token bytes per GPU, all TP x PP GPUs at once over
//             the node topology's GPU<->host routes (sim/topology.h), plus
//             backend.swap_overhead_us per transfer. A transfer moves at most the memory
//             policy's swap unit (MemoryPolicyTraits::swap_unit_slots: paged, one block, as
//             vLLM's swap_blocks issues one copy per block; contiguous, one whole KvCopy
//             range). Small blocks therefore swap slowly, as the vLLM paper's Fig. 19 measured.
//  copy       the step's device-to-device copies (copy-on-write; fork copies when a shape
//             carries them): their read + write bytes / bandwidth (copy_seconds).
//  allreduce  with tp > 1: two ring all-reduces per layer of T * hidden * dtype bytes
//             (after attention and after the MLP), over the topology.
//  overhead   backend.step_overhead_ms, every step (scheduling, input preparation, launches).
//  pipeline_send, pipeline_bubble   with model.pipeline_parallel = P > 1 only (below).
//  vmm        only for a memory policy that maps pages on demand (its vmm_page_bytes trait:
//             virtual): pages mapped x backend.vmm_map_us + pages unmapped x
//             backend.vmm_unmap_us (a page per layer and K/V tensor, per GPU; the TP GPUs map
//             their shards at once). With memory.overlap_mapping the mapping runs in the
//             background during the step (vAttention's overlap): only what exceeds gemm +
//             attention counts. Defaults per page size: vmm_defaults() (docs/config.md says
//             where they come from). Attention itself is priced as contiguous attention:
//             the roofline counts bytes read, with no block-table indirection for any policy.
//
// kv_token = model.kv_bytes_per_slot() / tp, in memory.kv_dtype's bytes (scales included).
//
// Pipeline parallelism (P stages, docs/parallelism.md has the derivation and sources): stage s
// holds layers_s layers (core/pipeline_stages.h; the LM head on the last) on TP GPUs s*tp ..
// s*tp+tp-1 of the replica's topology (nodes of hardware.gpus_per_node, joined by the network).
// The step's batch is split into m micro-batches (model.pipeline_microbatches, 0: m = P, at
// most one per sequence), each 1/m of the step's work, cycling through the stages as vLLM's
// virtual engines keep P batches in flight. Per micro-batch, stage s takes t_s (its gemm and
// attention rooflines for its layers, plus its TP all-reduces), and the hop s -> s+1 takes h_s
// (tokens x hidden x dtype x 2 bytes: the hidden state and the residual, every TP rank to its
// peer at once, over the topology's route). Every sequence gains one token per cycle:
//   C = max(m * max_s t_s, m * max_s h_s, sum_s t_s + sum_s h_s)
// (the busiest stage's work, the busiest link's, or one micro-batch's trip through the
// pipeline). gemm, attention and allreduce report m x the busiest stage's; the rest of C is its
// idle time: pipeline_send (waiting on activations) and pipeline_bubble. With m >= P equal
// stages and fast links there is no bubble; m = 1 leaves (P-1)/P of every GPU idle. Swaps,
// copies and VMM mapping run on every stage's GPUs at once, priced for the stage with the most
// layers. With P = 1 all of this reduces to the single-stage terms above, bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cost_model.h"
#include "core/experiment.h"
#include "core/step_work.h"
#include "sim/topology.h"

namespace kvlab {

// The roofline model's own settings: its keys (roofline_keys()), read from the experiment's
// config and checked against their declarations there.
struct RooflineOptions {
  double step_overhead_ms = 2.0;      // backend.step_overhead_ms
  double swap_overhead_us = 10.0;     // backend.swap_overhead_us
  double compute_efficiency = 0.7;    // backend.compute_efficiency, (0, 1]
  double bandwidth_efficiency = 0.8;  // backend.bandwidth_efficiency, (0, 1]
  double vmm_map_us = -1;             // backend.vmm_map_us; < 0: vmm_defaults() for the page
  double vmm_unmap_us = -1;           // backend.vmm_unmap_us; likewise
  static RooflineOptions from_settings(const Config& settings);
};

class RooflineCostModel : public CostModel {
 public:
  // Reads its options from config.raw (RooflineOptions::from_settings). Throws InputError
  // naming the key for a hardware entry without peak figures, an empty model shape, a topology
  // or tensor parallelism that does not fit (NodeTopology).
  explicit RooflineCostModel(const ExperimentConfig& config);
  // With options given directly (calibration prices candidate efficiencies this way). REQUIRES:
  // efficiencies > 0 (above 1 allowed: a faster device than the catalog's), overheads >= 0.
  RooflineCostModel(const ExperimentConfig& config, const RooflineOptions& options);

  std::string name() const override { return "roofline"; }
  StepCost cost(const StepShape& step) const override;
  double copy_seconds(const std::vector<KvCopy>& device_copies) const override;

  const NodeTopology& topology() const { return topology_; }

 private:
  // One pipeline stage (the whole model when P = 1).
  struct Stage {
    int32_t layers = 0;
    WorkCounter work;
    RingAllReduce allreduce;  // among the stage's TP GPUs
  };
  // One micro-batch's time in a stage, by term.
  struct StageTime {
    double gemm = 0, attention = 0, allreduce = 0;
    double total() const { return gemm + attention + allreduce; }
  };

  double roofline(double flops, double bytes) const;
  double swap_seconds(const std::vector<KvCopy>& copies) const;
  StageTime stage_time(const Stage& stage, const StepSums& microbatch) const;

  ModelSpec model_;
  int32_t tp_ = 1;
  int32_t pp_ = 1;
  int32_t microbatches_ = 1;  // model.pipeline_microbatches (0 -> P)
  std::vector<Stage> stages_;  // stage 0 has the most layers
  NodeTopology topology_;
  std::vector<TransferRate> swap_rates_;  // GPU j <-> host while all tp x pp GPUs swap at once
  // Stage s -> s + 1: the rate of each TP rank's send to its peer, all sending at once.
  std::vector<std::vector<TransferRate>> hops_;
  double step_overhead_s_ = 0;
  double swap_overhead_s_ = 0;
  int64_t swap_unit_slots_ = 0;  // slots per swap transfer; 0: one transfer per KvCopy
  bool vmm_ = false;             // the memory policy maps pages: the vmm term is listed
  bool vmm_overlap_ = false;     // memory.overlap_mapping
  double vmm_map_s_ = 0;         // per page
  double vmm_unmap_s_ = 0;
  double flops_per_s_ = 0;       // peak x compute_efficiency
  double bytes_per_s_ = 0;       // HBM peak x bandwidth_efficiency
};

// Mapping latency per page (one cuMemMap + cuMemSetAccess of a pre-created physical handle,
// and one cuMemUnmap) for the page sizes the virtual policy supports, in microseconds; the
// figures and their source are in docs/config.md (backend.vmm_map_us).
struct VmmLatency {
  double map_us = 0;
  double unmap_us = 0;
};
// REQUIRES: page_bytes > 0. The nearest tabulated page size at or above page_bytes (2 MiB for
// anything larger).
VmmLatency vmm_defaults(int64_t page_bytes);

// The keys the roofline model reads (backend.step_overhead_ms, swap_overhead_us,
// compute_efficiency, bandwidth_efficiency), declared once.
std::vector<KeySpec> roofline_keys();
// Registers "roofline" (and its keys) in `registry`.
void register_roofline_cost_model(CostModelRegistry& registry);

}  // namespace kvlab
