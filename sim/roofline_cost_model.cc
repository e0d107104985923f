#include "sim/roofline_cost_model.h"

#include <algorithm>
#include <memory>

#include "sim/field_error.h"

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

}  // namespace

RooflineOptions RooflineOptions::from_settings(const Config& settings) {
  RooflineOptions o;
  o.step_overhead_ms = settings.get_double("backend.step_overhead_ms");
  o.swap_overhead_us = settings.get_double("backend.swap_overhead_us");
  o.compute_efficiency = settings.get_double("backend.compute_efficiency");
  o.bandwidth_efficiency = settings.get_double("backend.bandwidth_efficiency");
  return o;
}

RooflineCostModel::RooflineCostModel(const ExperimentConfig& config)
    : RooflineCostModel(config, RooflineOptions::from_settings(config.raw)) {}

RooflineCostModel::RooflineCostModel(const ExperimentConfig& config, const RooflineOptions& options)
    : model_(config.model),
      tp_(config.tensor_parallel),
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

  for (int32_t gpu = 0; gpu < tp_; ++gpu) {
    swap_rates_.push_back(topology_.host_transfer_rate(gpu, tp_));
  }
  allreduce_ = topology_.ring_allreduce(tp_);
  step_overhead_s_ = options.step_overhead_ms * 1e-3;
  swap_overhead_s_ = options.swap_overhead_us * 1e-6;
  // The memory policy says how its swaps move (blocks, or whole regions).
  swap_unit_slots_ =
      memory_policies().entry(config.memory.policy).traits.swap_unit_slots(config.memory);
  flops_per_s_ = hw.fp16_tflops * 1e12 * options.compute_efficiency;
  bytes_per_s_ = hw.hbm_gb_s * 1e9 * options.bandwidth_efficiency;
  layer_weight_params_ = model_.num_layers * layer_matmul_params(model_) / tp_;
  lm_head_params_ = static_cast<double>(model_.hidden_size) * model_.vocab_size / tp_;
  kv_bytes_per_token_ = static_cast<double>(model_.kv_bytes_per_slot()) / tp_;
  attention_flops_per_pair_ =
      4.0 * (static_cast<double>(model_.num_heads) / tp_) * model_.head_dim * model_.num_layers;
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
  const auto bytes = static_cast<int64_t>(static_cast<double>(slots) * kv_bytes_per_token_);
  double slowest = 0.0;  // every TP GPU moves its shard at once
  for (const TransferRate& rate : swap_rates_) slowest = std::max(slowest, rate.seconds(bytes));
  return slowest + static_cast<double>(transfers) * swap_overhead_s_;
}

double RooflineCostModel::copy_seconds(const std::vector<KvCopy>& device_copies) const {
  double copied_slots = 0.0;
  for (const KvCopy& c : device_copies) copied_slots += static_cast<double>(c.num_slots);
  return 2.0 * copied_slots * kv_bytes_per_token_ / bytes_per_s_;
}

StepCost RooflineCostModel::cost(const StepShape& step) const {
  const double tokens = static_cast<double>(step.num_tokens());
  const double sampled = static_cast<double>(step.num_sampled());
  const double dtype = model_.dtype_bytes;

  double gemm = 0.0;
  if (tokens > 0) {
    const double flops = 2.0 * tokens * layer_weight_params_ + 2.0 * sampled * lm_head_params_;
    const double bytes = (layer_weight_params_ + (sampled > 0 ? lm_head_params_ : 0.0)) * dtype;
    gemm = roofline(flops, bytes);
  }

  double prefill_pairs = 0.0;
  double prefill_tokens_touched = 0.0;
  for (const StepShape::PrefillChunk& chunk : step.prefills) {
    const double s = static_cast<double>(chunk.start);
    const double c = static_cast<double>(chunk.num_tokens);
    prefill_pairs += c * s + c * (c + 1.0) / 2.0;
    prefill_tokens_touched += s + c;
  }
  double decode_pairs = 0.0;
  for (int64_t context : step.decode_context_lens) decode_pairs += static_cast<double>(context);
  const double attention =
      roofline(prefill_pairs * attention_flops_per_pair_,
               prefill_tokens_touched * kv_bytes_per_token_) +
      roofline(decode_pairs * attention_flops_per_pair_, decode_pairs * kv_bytes_per_token_);

  const double swap = swap_seconds(step.swap_out) + swap_seconds(step.swap_in);

  const double copy = copy_seconds(step.device_copies);

  double allreduce = 0.0;
  if (tp_ > 1 && tokens > 0) {
    const auto bytes = static_cast<int64_t>(tokens * model_.hidden_size * dtype);
    allreduce = 2.0 * model_.num_layers * allreduce_.seconds(bytes);
  }

  StepCost out;
  out.terms = {{"gemm", gemm}, {"attention", attention}, {"swap", swap},
               {"copy", copy}, {"allreduce", allreduce}, {"overhead", step_overhead_s_}};
  for (const CostTerm& t : out.terms) out.seconds += t.seconds;
  return out;
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
