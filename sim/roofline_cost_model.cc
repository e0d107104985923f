#include "sim/roofline_cost_model.h"

#include <algorithm>
#include <memory>

#include "core/pipeline_stages.h"
#include "sim/field_error.h"

namespace kvlab {

RooflineOptions RooflineOptions::from_settings(const Config& settings) {
  RooflineOptions o;
  o.step_overhead_ms = settings.get_double("backend.step_overhead_ms");
  o.swap_overhead_us = settings.get_double("backend.swap_overhead_us");
  o.compute_efficiency = settings.get_double("backend.compute_efficiency");
  o.bandwidth_efficiency = settings.get_double("backend.bandwidth_efficiency");
  o.vmm_map_us = settings.get_double("backend.vmm_map_us");
  o.vmm_unmap_us = settings.get_double("backend.vmm_unmap_us");
  return o;
}

RooflineCostModel::RooflineCostModel(const ExperimentConfig& config)
    : RooflineCostModel(config, RooflineOptions::from_settings(config.raw)) {}

RooflineCostModel::RooflineCostModel(const ExperimentConfig& config, const RooflineOptions& options)
    : model_(config.model),
      tp_(config.tensor_parallel),
      pp_(config.pipeline_parallel),
      topology_(NodeTopology::for_experiment(config)) {
  const Config& raw = config.raw;
  const HardwareSpec& hw = config.hardware;
  if (!(hw.fp16_tflops > 0 && hw.hbm_gb_s > 0)) {
    fail_field(raw, "hardware.name", "hardware '" + hw.name + "' lacks peak FLOP/s or bandwidth");
  }
  if (model_.num_layers < 1 || model_.hidden_size < 1 || model_.head_dim < 1 ||
      model_.dtype_bytes < 1) {
    fail_field(raw, "model.name", "model '" + model_.name + "' has an empty shape");
  }

  const std::vector<int32_t> layers = pipeline_stage_layers(model_.num_layers, pp_);
  for (int32_t s = 0; s < pp_; ++s) {
    std::vector<int32_t> gpus;
    for (int32_t r = 0; r < tp_; ++r) gpus.push_back(s * tp_ + r);
    stages_.push_back(
        Stage{.layers = layers[static_cast<size_t>(s)],
              .work = WorkCounter(model_, tp_, layers[static_cast<size_t>(s)], s + 1 == pp_),
              .allreduce = topology_.ring_allreduce(gpus)});
    if (s + 1 < pp_) {  // rank r of stage s sends to rank r of stage s + 1, all at once
      std::vector<GpuTransfer> sends;
      for (int32_t r = 0; r < tp_; ++r) sends.push_back({s * tp_ + r, (s + 1) * tp_ + r});
      hops_.push_back(topology_.transfer_rates(sends));
    }
  }
  const int64_t microbatches = raw.get_int("model.pipeline_microbatches");
  microbatches_ = microbatches > 0 ? static_cast<int32_t>(microbatches) : pp_;
  for (int32_t gpu = 0; gpu < tp_ * pp_; ++gpu) {
    swap_rates_.push_back(topology_.host_transfer_rate(gpu, tp_ * pp_));
  }
  step_overhead_s_ = options.step_overhead_ms * 1e-3;
  swap_overhead_s_ = options.swap_overhead_us * 1e-6;
  // The memory policy says how its swaps move (blocks, or whole regions).
  swap_unit_slots_ =
      memory_policies().entry(config.memory.policy).traits.swap_unit_slots(config.memory);
  const auto& page_bytes = memory_policies().entry(config.memory.policy).traits.vmm_page_bytes;
  if (page_bytes && page_bytes(config.memory) > 0) {
    vmm_ = true;
    vmm_overlap_ = raw.get_bool("memory.overlap_mapping");
    const VmmLatency table = vmm_defaults(page_bytes(config.memory));
    vmm_map_s_ = (options.vmm_map_us >= 0 ? options.vmm_map_us : table.map_us) * 1e-6;
    vmm_unmap_s_ = (options.vmm_unmap_us >= 0 ? options.vmm_unmap_us : table.unmap_us) * 1e-6;
  }
  flops_per_s_ = hw.fp16_tflops * 1e12 * options.compute_efficiency;
  bytes_per_s_ = hw.hbm_gb_s * 1e9 * options.bandwidth_efficiency;
}

double RooflineCostModel::roofline(double flops, double bytes) const {
  return std::max(flops / flops_per_s_, bytes / bytes_per_s_);
}

double RooflineCostModel::swap_seconds(const std::vector<KvCopy>& copies) const {
  int64_t slots = 0;
  int64_t transfers = 0;
  for (const KvCopy& c : copies) {
    slots += c.num_slots;
    transfers += swap_unit_slots_ > 0 ? (c.num_slots + swap_unit_slots_ - 1) / swap_unit_slots_ : 1;
  }
  if (slots == 0) return 0.0;
  const auto bytes =
      static_cast<int64_t>(static_cast<double>(slots) * stages_.front().work.kv_bytes_per_token());
  double slowest = 0.0;  // every GPU (TP x PP) moves its shard at once
  for (const TransferRate& rate : swap_rates_) slowest = std::max(slowest, rate.seconds(bytes));
  return slowest + static_cast<double>(transfers) * swap_overhead_s_;
}

double RooflineCostModel::copy_seconds(const std::vector<KvCopy>& device_copies) const {
  double copied_slots = 0.0;
  for (const KvCopy& c : device_copies) copied_slots += static_cast<double>(c.num_slots);
  return stages_.front().work.copy_bytes(copied_slots) / bytes_per_s_;
}

RooflineCostModel::StageTime RooflineCostModel::stage_time(const Stage& stage,
                                                           const StepSums& mb) const {
  const StepWork w = stage.work.count(mb);
  StageTime t;
  t.gemm = mb.tokens > 0 ? roofline(w.gemm_flops, w.gemm_bytes) : 0.0;
  t.attention = roofline(w.prefill_attention_flops, w.prefill_attention_bytes) +
                roofline(w.decode_attention_flops, w.decode_attention_bytes);
  if (tp_ > 1 && mb.tokens > 0) {
    const auto bytes = static_cast<int64_t>(mb.tokens * model_.hidden_size * model_.dtype_bytes);
    t.allreduce = 2.0 * stage.layers * stage.allreduce.seconds(bytes);
  }
  return t;
}

StepCost RooflineCostModel::cost(const StepShape& step) const {
  const StepSums sums = sums_of(step);

  // Micro-batches: at most one per sequence, each 1/m of the step's work (P = 1: m = 1).
  const auto sequences =
      static_cast<int64_t>(step.prefills.size() + step.decode_context_lens.size());
  const int64_t m =
      pp_ == 1 ? 1 : std::max<int64_t>(1, std::min<int64_t>(microbatches_, sequences));
  StepSums mb = sums;
  if (m > 1) {
    const double f = 1.0 / static_cast<double>(m);
    mb.tokens *= f;
    mb.sampled *= f;
    mb.prefill_pairs *= f;
    mb.prefill_tokens_touched *= f;
    mb.decode_pairs *= f;
  }
  StageTime busiest;
  double stages_total = 0.0;
  for (const Stage& stage : stages_) {
    const StageTime t = stage_time(stage, mb);
    if (t.total() > busiest.total()) busiest = t;
    stages_total += t.total();
  }
  // Activations between stages: the hidden state and the residual of the micro-batch's tokens.
  const auto activation_bytes =
      static_cast<int64_t>(2.0 * mb.tokens * model_.hidden_size * model_.dtype_bytes);
  double hops_total = 0.0;
  double slowest_hop = 0.0;
  for (const std::vector<TransferRate>& ranks : hops_) {
    double h = 0.0;  // when the slowest rank's send is done
    for (const TransferRate& rank : ranks) h = std::max(h, rank.seconds(activation_bytes));
    hops_total += h;
    slowest_hop = std::max(slowest_hop, h);
  }
  const double md = static_cast<double>(m);
  const double busy = md * busiest.total();
  const double cycle = std::max({busy, md * slowest_hop, stages_total + hops_total});
  const double idle = cycle - busy;
  const double send = std::min(idle, std::max(hops_total, md * slowest_hop));

  const double gemm = md * busiest.gemm;
  const double attention = md * busiest.attention;
  const double allreduce = md * busiest.allreduce;
  const double swap = swap_seconds(step.swap_out) + swap_seconds(step.swap_in);
  const double copy = stages_.front().work.copy_bytes(sums.device_copy_slots) / bytes_per_s_;

  StepCost out;
  out.terms = {{"gemm", gemm}, {"attention", attention}, {"swap", swap},
               {"copy", copy}, {"allreduce", allreduce}, {"overhead", step_overhead_s_}};
  if (pp_ > 1) {
    out.terms.push_back({"pipeline_send", send});
    out.terms.push_back({"pipeline_bubble", idle - send});
  }
  if (vmm_) {
    double vmm = static_cast<double>(step.vmm_pages_mapped) * vmm_map_s_ +
                 static_cast<double>(step.vmm_pages_unmapped) * vmm_unmap_s_;
    if (vmm_overlap_) vmm = std::max(0.0, vmm - (gemm + attention));
    out.terms.push_back({"vmm", vmm});
  }
  for (const CostTerm& t : out.terms) out.seconds += t.seconds;
  return out;
}

VmmLatency vmm_defaults(int64_t page_bytes) {
  // docs/config.md (backend.vmm_map_us): the vAttention paper's VMM API latencies.
  if (page_bytes <= (64 << 10)) return {8.0, 8.0};
  if (page_bytes <= (128 << 10)) return {8.5, 8.5};
  if (page_bytes <= (256 << 10)) return {9.0, 9.0};
  return {40.0, 34.0};
}

std::vector<KeySpec> roofline_keys() {
  return {
      float_key("backend.step_overhead_ms", "2.0", 0.0, 1e6,
                "roofline: fixed CPU/launch overhead per step"),
      float_key("backend.swap_overhead_us", "10.0", 0.0, 1e9,
                "roofline: fixed cost per swap transfer (a block, or a contiguous range)"),
      float_key("backend.compute_efficiency", "0.7", 0.0, 1.0,
                "roofline: fraction of peak FLOP/s reached", true, false),
      float_key("backend.bandwidth_efficiency", "0.8", 0.0, 1.0,
                "roofline: fraction of peak HBM bandwidth reached", true, false),
      float_key("backend.vmm_map_us", "-1", -1.0, 1e9,
                "roofline, virtual memory policy: microseconds to map one page (one layer's K "
                "or V); -1: the default for memory.page_size (docs/config.md)"),
      float_key("backend.vmm_unmap_us", "-1", -1.0, 1e9,
                "roofline, virtual memory policy: microseconds to unmap one page; -1: the "
                "default for memory.page_size"),
  };
}

void register_roofline_cost_model(CostModelRegistry& registry) {
  registry.add({.name = "roofline",
                .factory = [](const ExperimentConfig& config) -> std::unique_ptr<CostModel> {
                  return std::make_unique<RooflineCostModel>(config);
                },
                .description = "FLOPs and bytes over peak compute and bandwidth, swaps over the "
                               "node topology",
                .keys = roofline_keys()});
}

}  // namespace kvlab
