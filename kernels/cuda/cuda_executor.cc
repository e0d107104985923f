#include "kernels/cuda/cuda_executor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <span>
#include <string>

#include "core/errors.h"
#include "core/sampling_rows.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cache_ops.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_capacity.h"
#include "kernels/cuda/device_virtual_memory.h"
#include "kernels/model/forward_batch.h"
#include "kernels/model/real_backend_keys.h"
#include "kernels/model/kv_dtype_rule.h"
#include "kernels/model/single_rank.h"
#include "kernels/virtual_page_mirror.h"

namespace kvlab::cuda {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// CUDA context, cuBLAS workspaces and allocator slack beyond what the plan counts.
constexpr double kReserveBytes = 512.0 * 1024.0 * 1024.0;

std::string gib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", bytes / kGiB);
  return text;
}

DeviceInfo open_device(const ExperimentConfig& config) {
  std::string why;
  const int count = cuda_device_count(&why);
  if (count == 0) {
    const auto it = config.raw.values().find("backend.kind");
    const std::string origin = it == config.raw.values().end() ? "" : it->second.origin;
    const long line = it == config.raw.values().end() ? 0 : it->second.line;
    throw InputError(origin, line, "", "backend.kind = cuda: no CUDA device (" + why + ")");
  }
  if (config.backend.device >= count) {
    config.raw.fail("backend.device", "device " + std::to_string(config.backend.device) +
                                          " does not exist: this machine has " +
                                          std::to_string(count) + " CUDA device(s)");
  }
  return query_device(config.backend.device);
}

void check_single_gpu(const ExperimentConfig& config) {
  require_single_rank(config, "cuda", "one GPU (backend.device)");
}

// K/V are stored in backend.dtype (memory.kv_dtype auto or the same name) or quantized
// (fp8_e4m3, int8: CudaKvCache); another float dtype than backend.dtype is refused
// (kernels/model/kv_dtype_rule.h).
void check_kv_dtype(const ExperimentConfig& config) {
  require_kv_dtype(config, "cuda",
                   {KvDtype::kAuto, parse_kv_dtype(config.backend.dtype), KvDtype::kFp8E4m3,
                    KvDtype::kInt8},
                   "K/V in backend.dtype (" + config.backend.dtype + ") or quantized");
  if (virtual_geometry_of(config) && kv_dtype_scaled(config.model.kv_dtype)) {
    config.raw.fail("memory.kv_dtype",
                    "the cuda back end's virtual memory (memory.policy = " + config.memory.policy +
                        ") maps pages of K and V only; " + kv_dtype_name(config.model.kv_dtype) +
                        " keeps per-slot scales beside them: use auto or " + config.backend.dtype);
  }
}

void check_model(const ExperimentConfig& config) {
  try {
    validate_cuda_model_spec(config.model);
  } catch (const InputError& e) {
    config.raw.fail("model.name", "the cuda back end runs model families " +
                                      cuda_model_families() + ": " + e.what());
  }
}

// Bytes of one slot in every layer, K and V, as memory.kv_dtype stores them with `dtype` the
// compute dtype (scales included): ModelSpec::kv_bytes_per_slot, the simulator's and the cpu
// back end's rule, with auto meaning `dtype`.
double slot_bytes(const ModelSpec& m, DType dtype) {
  ModelSpec stored = m;
  stored.dtype_bytes = dtype_bytes(dtype);
  return static_cast<double>(stored.kv_bytes_per_slot());
}

// How the arena and the host pool store K/V: memory.kv_dtype, auto being `dtype`.
std::string kv_storage_name(const ModelSpec& m, DType dtype) {
  return m.kv_dtype == KvDtype::kAuto ? dtype_name(dtype) : kv_dtype_name(m.kv_dtype);
}

// What the executor will allocate on the device besides the KV arena.
struct DevicePlan {
  double weights = 0;
  double activations = 0;
};

DevicePlan plan_device(const ExperimentConfig& config, DType dtype) {
  const ModelSpec& m = config.model;
  const double t = dtype_bytes(dtype);
  const double rows = static_cast<double>(config.scheduler.max_batched_tokens);
  const double seqs = config.scheduler.max_num_seqs;
  const double q_width = static_cast<double>(m.num_heads) * m.head_dim;
  const double kv_width = static_cast<double>(m.num_kv_heads) * m.head_dim;
  DevicePlan p;
  p.weights = static_cast<double>(m.num_params()) * t;
  // Per token: h, x, qkv, attn, and the MLP's (llama: gate_up 2 x ffn and act ffn; OPT: fc1's
  // ffn); last hidden rows and fp32 logits per sequence; split-K partials; llama's rotary table.
  const double mlp = (m.gated_mlp() ? 3.0 : 1.0) * m.ffn_size;
  p.activations = rows * t * (2.0 * m.hidden_size + q_width + 2 * kv_width + q_width + mlp);
  p.activations += seqs * (t * m.hidden_size + 4.0 * m.vocab_size);
  p.activations += static_cast<double>(
      decode_workspace_bytes(config.scheduler.max_num_seqs, m.num_heads, m.head_dim, m.max_seq_len,
                             DecodeOptions{}.partition_tokens));
  if (m.gated_mlp()) p.activations += 4.0 * m.max_seq_len * m.head_dim;
  return p;
}

DeviceMemoryBudget budget(const ExperimentConfig& config, DType dtype, const DeviceInfo& device,
                          double utilization) {
  const DevicePlan p = plan_device(config, dtype);
  DeviceMemoryBudget b;
  b.free_bytes = static_cast<double>(device.free_bytes);
  b.utilization = utilization;
  b.weight_bytes = p.weights;
  b.activation_bytes = p.activations;
  b.reserve_bytes = kReserveBytes;
  b.slot_bytes = slot_bytes(config.model, dtype);
  return b;
}

void check_device_memory(const ExperimentConfig& config, DType dtype, const DeviceInfo& device) {
  const DevicePlan p = plan_device(config, dtype);
  const double per_slot = slot_bytes(config.model, dtype);
  const double arena = per_slot * static_cast<double>(config.memory.capacity_slots);
  const double free = static_cast<double>(device.free_bytes);
  if (p.weights + p.activations + kReserveBytes + arena <= free) return;
  const int64_t fit = kv_slots_that_fit(budget(config, dtype, device, 1.0));
  const std::string sizes =
      dtype_name(dtype) + std::string(" weights ") + gib(p.weights) + " + " +
      kv_storage_name(config.model, dtype) + " KV arena of " +
      std::to_string(config.memory.capacity_slots) + " slots " + gib(arena) + " + activations " +
      gib(p.activations) + " + " + gib(kReserveBytes) + " reserve need more than the " + gib(free) +
      " free on device " + std::to_string(device.index) + " (" + device.name + ")";
  if (fit == 0) {
    config.raw.fail("model.name", "the cuda back end cannot hold " + config.model.name + ": " +
                                      sizes + "; no KV slot fits");
  }
  // resolve_experiment turns hardware.kv_cache_gb into slots with the catalog's bytes per slot.
  const double kv_cache_gb =
      std::floor(static_cast<double>(fit) * config.kv_bytes_per_slot_per_gpu() / kGiB * 100.0) /
      100.0;
  const std::string advice =
      "; " + std::to_string(fit) +
      " slots fit: set hardware.kv_cache_gb = " + std::to_string(kv_cache_gb) +
      " or memory.capacity_slots = " + std::to_string(fit);
  const bool capacity_given =
      config.raw.has("memory.capacity_slots") && config.raw.get_int("memory.capacity_slots") > 0;
  config.raw.fail(capacity_given ? "memory.capacity_slots" : "hardware.kv_cache_gb",
                  sizes + advice);
}

void check_host_pool(const ExperimentConfig& config, DType dtype) {
  const double bytes =
      slot_bytes(config.model, dtype) * static_cast<double>(config.memory.swap_capacity_slots);
  const double max_host_memory_gb = config.raw.get_double("backend.max_host_memory_gb");
  const double budget = max_host_memory_gb * kGiB;
  if (bytes <= budget) return;
  config.raw.fail("memory.swap_space_gb", "the cuda back end's pinned host swap pool of " +
                                              std::to_string(config.memory.swap_capacity_slots) +
                                              " slots (" + gib(bytes) + " in " +
                                              kv_storage_name(config.model, dtype) +
                                              ") exceeds backend.max_host_memory_gb (" +
                                              std::to_string(max_host_memory_gb) +
                                              "); lower memory.swap_space_gb");
}

// Everything this back end refuses without a device (ExecutorTraits::check_config).
void check_config(const ExperimentConfig& config) {
  check_model(config);
  check_single_gpu(config);
  check_kv_dtype(config);
  check_host_pool(config, parse_dtype(config.backend.dtype));
}

// The capacity probe (core/executor.h): KV slots that fit in the device's free memory times
// hardware.gpu_memory_utilization, after the weights, activations and reserve this executor
// will allocate. Measured after the CUDA context exists (query_device creates it), so the
// context's own memory is not counted as free.
int64_t device_kv_capacity(const ExperimentConfig& config) {
  const DeviceInfo device = open_device(config);
  check_model(config);
  check_single_gpu(config);
  check_kv_dtype(config);
  const DType dtype = parse_dtype(config.backend.dtype);
  const DeviceMemoryBudget b = budget(config, dtype, device, config.gpu_memory_utilization);
  const int64_t slots = kv_slots_that_fit(b);
  if (slots <= 0) {
    config.raw.fail("model.name",
                    "the cuda back end cannot hold " + config.model.name + ": " +
                        dtype_name(dtype) + " weights " + gib(b.weight_bytes) + " + activations " +
                        gib(b.activation_bytes) + " + " + gib(b.reserve_bytes) +
                        " reserve leave no KV slot in " + gib(b.free_bytes) + " free x " +
                        std::to_string(b.utilization) +
                        " (hardware.gpu_memory_utilization) on device " +
                        std::to_string(device.index) + " (" + device.name +
                        "); a smaller model, backend.dtype or scheduler.max_batched_tokens, or "
                        "set hardware.kv_cache_gb / memory.capacity_slots");
  }
  return slots;
}

// The step's cost term for its mapping calls (StepResult::terms), the simulator's name for it.
constexpr const char* kVmmTerm = "vmm";

// Under a policy that maps pages on demand: the device arena as real device virtual memory,
// or an InputError naming the key that cannot be had on this device; else nothing.
std::unique_ptr<CudaVmmKvArena> make_vmm_arena(const ExperimentConfig& config, DType dtype,
                                               const DeviceInfo& device) {
  const std::optional<VirtualGeometry> g = virtual_geometry_of(config);
  if (!g) return nullptr;
  const std::string why = vmm_unsupported_reason(device.index);
  if (!why.empty()) {
    config.raw.fail("memory.policy", "the cuda back end cannot give memory.policy = " +
                                         config.memory.policy + " device virtual memory: " + why);
  }
  const ModelSpec& m = config.model;
  const size_t granularity = vmm_granularity(device.index);
  const std::string refusal =
      CudaVmmKvArena::page_size_refusal(*g, m.num_kv_heads, m.head_dim, dtype, granularity);
  if (!refusal.empty()) {
    config.raw.fail("memory.page_size", "the cuda back end on device " +
                                            std::to_string(device.index) + " (" + device.name +
                                            ") cannot map memory.page_size = " +
                                            std::to_string(g->page_bytes) + " bytes: " + refusal);
  }
  return std::make_unique<CudaVmmKvArena>(*g, m.num_layers, m.num_kv_heads, m.head_dim, dtype,
                                          device.index);
}

}  // namespace

CudaExecutor::CudaExecutor(const ExperimentConfig& config)
    : device_(open_device(config)), dtype_(parse_dtype(config.backend.dtype)) {
  check_model(config);
  check_single_gpu(config);
  check_kv_dtype(config);
  check_device_memory(config, dtype_, device_);
  check_host_pool(config, dtype_);
  // Before the weights: a page size the device cannot map is refused without loading them.
  vmm_ = make_vmm_arena(config, dtype_, device_);
  stream_ = std::make_unique<CudaStream>();
  model_ = make_cuda_decoder_model(config.model, dtype_, config.backend.weights_seed,
                                   CudaLlamaWeights::default_source(config.model), stream_->get());
  if (!vmm_) {
    arena_ = std::make_unique<CudaKvCache>(
        model_->make_kv_cache(config.memory.capacity_slots, config.model.kv_dtype));
  }
  host_pool_ = std::make_unique<CudaKvCache>(
      config.model.num_layers, config.memory.swap_capacity_slots, config.model.num_kv_heads,
      config.model.head_dim, dtype_, CudaKvCache::Memory::kPinnedHost, config.model.kv_dtype);
  copy_lists_ = std::make_unique<StagedUpload>();
  start_ = std::make_unique<CudaEvent>();
  moved_ = std::make_unique<CudaEvent>();
  done_ = std::make_unique<CudaEvent>();
}

CudaExecutor::~CudaExecutor() {
  // Free everything on its own device, after its last use.
  cudaSetDevice(device_.index);
  if (stream_) cudaStreamSynchronize(stream_->get());
}

std::string CudaExecutor::name() const {
  const std::string kv =
      arena_->scaled() ? ", KV " + kv_dtype_name(arena_->storage()) : std::string();
  return "cuda(" + model_->spec().name + ", " + dtype_name(dtype_) + kv + ", " + device_.name + ")";
}

StepResult CudaExecutor::execute(const SchedulerOutput& plan, const KvCacheManager& kv) {
  // run_experiment may call from another thread than the constructor's.
  check_cuda(cudaSetDevice(device_.index), "cudaSetDevice");
  const cudaStream_t stream = stream_->get();
  StepResult result;
  if (vmm_) {
    // The previous step (and copy_within) ended with a synchronize: no kernel reads the
    // ranges while their mappings change.
    const VmmCallCounters before = vmm_->counters();
    vmm_->mirror(kv);
    result.vmm_calls = vmm_->counters().calls - before.calls;
    result.vmm_s = vmm_->counters().seconds - before.seconds;
  }
  start_->record(stream);
  swap_out(arena(), *host_pool_, plan.swap_out, stream);
  swap_in(*host_pool_, arena(), plan.swap_in, stream);
  copy_kv_within(arena(), plan.copies, *copy_lists_, stream);
  moved_->record(stream);

  if (plan.has_work()) {
    const std::vector<ForwardEntry> entries =
        vmm_ ? forward_entries(plan,
                               [&](const Sequence& seq) {
                                 return vmm_->layout(kv.virtual_range(seq));
                               })
             : forward_entries(plan, kv);
    int64_t rows = 0;
    const float* logits =
        model_->forward(entries, vmm_ ? vmm_->virtual_cache() : *arena_, &rows);
    sample(plan, logits, rows, result.token_ids);
  }
  done_->record(stream);
  done_->synchronize();
  const double total_s = done_->elapsed_ms_since(*start_) / 1e3;
  const double moved_s = moved_->elapsed_ms_since(*start_) / 1e3;
  result.duration_s = result.vmm_s + total_s;
  result.terms = {CostTerm{"kv_movement", moved_s},
                  CostTerm{"forward_and_sampling", total_s - moved_s}};
  if (vmm_) result.terms.push_back(CostTerm{kVmmTerm, result.vmm_s});
  return result;
}

double CudaExecutor::copy_within(const std::vector<KvCopy>& copies) {
  check_cuda(cudaSetDevice(device_.index), "cudaSetDevice");
  const cudaStream_t stream = stream_->get();
  start_->record(stream);
  copy_kv_within(arena(), copies, *copy_lists_, stream);
  done_->record(stream);
  done_->synchronize();
  return done_->elapsed_ms_since(*start_) / 1e3;
}

void CudaExecutor::sample(const SchedulerOutput& plan, const float* logits, int64_t rows,
                          std::vector<int32_t>& token_ids) {
  // One draw per token, in the CPU executor's order (core/executor.h): sampling prefill chunks,
  // then decodes. All of them are sampled on the GPU; only the ids come back.
  draws_.clear();
  const int64_t planned_rows = for_each_draw(plan, [&](const TokenDraw& draw) {
    const Sequence& seq = *draw.seq;
    SampleDraw d;
    d.row = draw.row;
    d.params = seq.group->spec.sampling;
    d.sample_index = draw.sample_index;
    d.position = seq.num_tokens();
    d.history = seq.token_ids;
    draws_.push_back(d);
  });
  check_invariant(planned_rows == rows, "cuda executor: logits rows do not match sampling entries");
  if (draws_.empty()) return;  // only prompt chunks that do not sample yet
  const cudaStream_t stream = stream_->get();
  const int32_t vocab = model_->spec().vocab_size;
  const size_t count = draws_.size();
  if (!sampler_) sampler_ = std::make_unique<DeviceSampler>();
  device_ids_.reserve(count * sizeof(int32_t));
  host_ids_.reserve(count * sizeof(int32_t));
  sampler_->sample(logits, vocab, rows, vocab, draws_, device_ids_.as<int32_t>(), stream);
  check_cuda(cudaMemcpyAsync(host_ids_.data(), device_ids_.data(), count * sizeof(int32_t),
                             cudaMemcpyDeviceToHost, stream),
             "cuda executor: token ids download");
  stream_->synchronize("cuda executor: step");
  const int32_t* ids = host_ids_.as<const int32_t>();
  token_ids.insert(token_ids.end(), ids, ids + count);
}

void register_cuda_executor(ExecutorRegistry& registry) {
  registry.add({.name = "cuda",
                .factory = [](const ExperimentConfig& config) -> std::unique_ptr<Executor> {
                  return std::make_unique<CudaExecutor>(config);
                },
                .description = "real compute on an NVIDIA GPU: a llama- or opt-family model "
                               "(dummy weights, backend.dtype, CUDA kernels + cuBLAS) over the "
                               "manager's real KV layout (virtual: device virtual memory, "
                               "cuMemMap); needs a device at run time",
                .keys = real_backend_keys(),
                .traits = {.real = true,
                           .exclusive_device = true,
                           .capacity_probe = device_kv_capacity,
                           .check_config = check_config}});
}

}  // namespace kvlab::cuda
