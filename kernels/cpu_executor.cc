#include "kernels/cpu_executor.h"

#include <chrono>
#include <optional>
#include <span>
#include <system_error>

#include "core/errors.h"
#include "core/sampling_rows.h"
#include "kernels/cpu/kv_copy.h"
#include "kernels/cpu/sampling.h"
#include "kernels/cpu_profiler.h"
#include "kernels/host_virtual_memory.h"
#include "kernels/model/forward_batch.h"
#include "kernels/model/real_backend_keys.h"
#include "kernels/model/single_rank.h"

namespace kvlab {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// A family the CPU model does not run is refused before anything is sized or loaded.
void check_family(const ExperimentConfig& config) {
  if (cpu_model_families().contains(config.model.family)) return;
  std::string known;
  for (const std::string& name : cpu_model_families().names()) {
    known += (known.empty() ? "" : ", ") + name;
  }
  config.raw.fail("model.name", "the cpu back end cannot run model '" + config.model.name +
                                    "': its model.family '" + config.model.family +
                                    "' is not one of " + known);
}

// The model of the config's family, with an error naming model.name (and, through the
// family's message, model.family and the offending field) when it cannot run.
std::unique_ptr<DecoderModel> make_model(const ExperimentConfig& config) {
  try {
    return make_decoder_model(config.model, DummyWeightSource(config.backend.weights_seed));
  } catch (const InputError& e) {
    config.raw.fail("model.name", "the cpu back end cannot run model '" + config.model.name +
                                      "' (family '" + config.model.family + "'): " + e.what());
  }
}

// Bytes of K and V (and their scales) for `slots` token slots of `spec`, as this back end
// stores them (memory.kv_dtype; auto: fp32).
double arena_bytes(const ModelSpec& spec, int64_t slots) {
  ModelSpec stored = spec;
  stored.kv_dtype = cpu::cpu_kv_storage(spec.kv_dtype);
  return static_cast<double>(stored.kv_bytes_per_slot()) * static_cast<double>(slots);
}

void check_budget(const ExperimentConfig& config) {
  const double kv = arena_bytes(config.model, config.memory.capacity_slots);
  const double host = arena_bytes(config.model, config.memory.swap_capacity_slots);
  const double weights = 4.0 * static_cast<double>(config.model.num_params());
  const double max_host_memory_gb = config.raw.get_double("backend.max_host_memory_gb");
  const double budget = max_host_memory_gb * kGiB;
  if (kv + host + weights <= budget) return;
  const std::string sizes = "fp32 weights " + std::to_string(weights / kGiB) + " GiB + " +
                            kv_dtype_name(cpu::cpu_kv_storage(config.model.kv_dtype)) + " KV arena " +
                            std::to_string(kv / kGiB) + " GiB + host swap pool " +
                            std::to_string(host / kGiB) + " GiB exceed backend.max_host_memory_gb (" +
                            std::to_string(max_host_memory_gb) + ")";
  if (weights > budget) config.raw.fail("model.name", "the cpu back end cannot hold " + config.model.name + ": " + sizes);
  if (host >= kv) config.raw.fail("memory.swap_space_gb", sizes + "; lower memory.swap_space_gb");
  config.raw.fail("memory.capacity_slots", sizes + "; set memory.capacity_slots");
}

// The pages of a policy that maps them on demand, or nothing.
std::optional<VirtualGeometry> vmm_geometry(const ExperimentConfig& config) {
  const auto& geometry_of = memory_policies().entry(config.memory.policy).traits.vmm_geometry;
  if (!geometry_of) return std::nullopt;
  return geometry_of(config.memory);
}

// Real virtual memory maps whole OS pages of K and V: no scales, whole pages.
void check_virtual_memory(const ExperimentConfig& config) {
  const std::optional<VirtualGeometry> g = vmm_geometry(config);
  if (!g) return;
  const ModelSpec& m = config.model;
  if (kv_dtype_scaled(cpu::cpu_kv_storage(m.kv_dtype))) {
    config.raw.fail("memory.kv_dtype",
                    "the cpu back end's virtual memory (memory.policy = " + config.memory.policy +
                        ") maps pages of K and V only; " + kv_dtype_name(m.kv_dtype) +
                        " keeps per-slot scales beside them: use auto, fp32, fp16 or bf16");
  }
  const int64_t real = VmmKvArena::real_page_bytes(*g, m.num_kv_heads, m.head_dim, m.kv_dtype);
  const auto os_page = static_cast<int64_t>(os_page_size());
  if (real % os_page != 0) {
    config.raw.fail("memory.page_size",
                    "the cpu back end maps real pages of " + std::to_string(g->tokens_per_page) +
                        " tokens (" + std::to_string(g->page_bytes) + " / " +
                        std::to_string(config.memory.kv_tensor_bytes_per_token) +
                        " bytes per token) x " + std::to_string(m.num_kv_heads * m.head_dim) +
                        " " + kv_dtype_name(cpu::cpu_kv_storage(m.kv_dtype)) + " elements = " +
                        std::to_string(real) + " bytes, not a multiple of the OS page (" +
                        std::to_string(os_page) + " bytes); pick a page size whose token count "
                        "fills whole OS pages");
  }
}

// Everything this back end refuses from the config alone (ExecutorTraits::check_config).
void check_config(const ExperimentConfig& config) {
  check_family(config);
  require_single_rank(config, "cpu", "one rank (this process)");
  check_budget(config);
  check_virtual_memory(config);
}

std::unique_ptr<VmmKvArena> make_vmm_arena(const ExperimentConfig& config) {
  const std::optional<VirtualGeometry> g = vmm_geometry(config);
  if (!g) return nullptr;
  const ModelSpec& m = config.model;
  try {
    return std::make_unique<VmmKvArena>(*g, m.num_layers, m.num_kv_heads, m.head_dim,
                                        m.kv_dtype);
  } catch (const std::system_error& e) {
    config.raw.fail("memory.policy", "the cpu back end cannot give memory.policy = " +
                                         config.memory.policy + " real virtual memory: " +
                                         e.what());
  }
}

}  // namespace

CpuExecutor::CpuExecutor(const ExperimentConfig& config)
    : model_((check_config(config), make_model(config))),
      vmm_(make_vmm_arena(config)),
      device_(model_->make_kv_cache(vmm_ ? 0 : config.memory.capacity_slots)),
      host_(model_->make_kv_cache(config.memory.swap_capacity_slots)) {}

std::string CpuExecutor::name() const { return "cpu(" + model_->spec().name + ")"; }

StepResult CpuExecutor::execute(const SchedulerOutput& plan, const KvCacheManager& kv) {
  const auto start = std::chrono::steady_clock::now();
  cpu::swap_out(device(), host_, plan.swap_out);
  cpu::swap_in(host_, device(), plan.swap_in);
  cpu::copy_kv_within(device(), plan.copies);

  StepResult result;
  if (vmm_) {
    const VmmCallCounters before = vmm_->counters();
    vmm_->mirror(kv);
    result.vmm_calls = vmm_->counters().calls - before.calls;
    result.vmm_s = vmm_->counters().seconds - before.seconds;
  }
  if (plan.has_work()) {
    const std::vector<ForwardEntry> entries =
        vmm_ ? forward_entries(plan,
                               [&](const Sequence& seq) {
                                 return vmm_->layout(kv.virtual_range(seq));
                               })
             : forward_entries(plan, kv);
    const cpu::RowMatrix logits =
        model_->forward(entries, vmm_ ? vmm_->virtual_cache() : device_);
    const auto cols = static_cast<size_t>(logits.cols());
    const int64_t rows = for_each_draw(plan, [&](const TokenDraw& draw) {
      const Sequence& seq = *draw.seq;
      const std::span<const float> row_logits(logits.row(draw.row).data(), cols);
      result.token_ids.push_back(cpu::sample_token(row_logits, seq.group->spec.sampling,
                                                   seq.token_ids, draw.sample_index,
                                                   seq.num_tokens()));
    });
    check_invariant(rows == logits.rows(),
                    "cpu executor: logits rows do not match sampling entries");
  }
  result.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

double CpuExecutor::copy_within(const std::vector<KvCopy>& copies) {
  const auto start = std::chrono::steady_clock::now();
  cpu::copy_kv_within(device(), copies);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void register_cpu_executor(ExecutorRegistry& registry) {
  registry.add({.name = "cpu",
                .factory = [](const ExperimentConfig& config) -> std::unique_ptr<Executor> {
                  return std::make_unique<CpuExecutor>(config);
                },
                .description = "real compute on the CPU: the model's family (llama, opt) with "
                               "dummy weights, fp32, Eigen, over the manager's real KV layout "
                               "(virtual: real mmap/memfd virtual memory)",
                .keys = real_backend_keys(),
                .traits = {.real = true,
                           .exclusive_device = false,
                           .capacity_probe = {},
                           .check_config = check_config,
                           .profile = profile_cpu_backend}});
}

}  // namespace kvlab
