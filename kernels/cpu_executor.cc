#include "kernels/cpu_executor.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <span>
#include <system_error>

#include "core/errors.h"
#include "core/sampling_rows.h"
#include "kernels/cpu/kv_copy.h"
#include "kernels/cpu/sampling.h"
#include "kernels/cpu_profiler.h"
#include "kernels/host_allocator.h"
#include "kernels/host_virtual_memory.h"
#include "kernels/model/forward_batch.h"
#include "kernels/model/real_backend_keys.h"
#include "kernels/model/single_rank.h"

namespace kvlab {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// The step's cost term for the ranks' collectives (StepResult::terms).
constexpr const char* kCollectiveTerm = "collective";

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

// The model of the config's family (rank shard.rank's slice of it), with an error naming
// model.name (and, through the family's message, model.family and the offending field) when it
// cannot run.
std::unique_ptr<DecoderModel> make_model(const ExperimentConfig& config, TpShard shard) {
  try {
    return make_decoder_model(config.model, DummyWeightSource(config.backend.weights_seed),
                              shard);
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

// The KV heads each tensor-parallel rank holds (and caches).
int32_t rank_kv_heads(const ExperimentConfig& config) {
  return config.model.num_kv_heads / config.tensor_parallel;
}

// Real virtual memory maps whole OS pages of K and V (of each rank's KV heads): no scales,
// whole pages.
void check_virtual_memory(const ExperimentConfig& config) {
  const std::optional<VirtualGeometry> g = virtual_geometry_of(config);
  if (!g) return;
  const ModelSpec& m = config.model;
  if (kv_dtype_scaled(cpu::cpu_kv_storage(m.kv_dtype))) {
    config.raw.fail("memory.kv_dtype",
                    "the cpu back end's virtual memory (memory.policy = " + config.memory.policy +
                        ") maps pages of K and V only; " + kv_dtype_name(m.kv_dtype) +
                        " keeps per-slot scales beside them: use auto, fp32, fp16 or bf16");
  }
  const int32_t kv_heads = rank_kv_heads(config);
  const int64_t real = VmmKvArena::real_page_bytes(*g, kv_heads, m.head_dim, m.kv_dtype);
  const auto os_page = static_cast<int64_t>(os_page_size());
  if (real % os_page != 0) {
    config.raw.fail("memory.page_size",
                    "the cpu back end maps real pages of " + std::to_string(g->tokens_per_page) +
                        " tokens (" + std::to_string(g->page_bytes) + " / " +
                        std::to_string(config.memory.kv_tensor_bytes_per_token) +
                        " bytes per token) x " + std::to_string(kv_heads * m.head_dim) +
                        " " + kv_dtype_name(cpu::cpu_kv_storage(m.kv_dtype)) + " elements = " +
                        std::to_string(real) + " bytes, not a multiple of the OS page (" +
                        std::to_string(os_page) + " bytes); pick a page size whose token count "
                        "fills whole OS pages");
  }
}

// Everything this back end refuses from the config alone (ExecutorTraits::check_config).
void check_config(const ExperimentConfig& config) {
  check_family(config);
  require_single_stage(config, "cpu", "one pipeline stage (this process)");
  try {
    check_tensor_parallel(config.model, config.tensor_parallel);
  } catch (const InputError& e) {
    config.raw.fail("model.tensor_parallel", e.reason());
  }
  check_budget(config);
  check_virtual_memory(config);
}

// One rank's device arena under virtual memory, or nothing.
std::unique_ptr<VmmKvArena> make_vmm_arena(const ExperimentConfig& config) {
  const std::optional<VirtualGeometry> g = virtual_geometry_of(config);
  if (!g) return nullptr;
  const ModelSpec& m = config.model;
  try {
    return std::make_unique<VmmKvArena>(*g, m.num_layers, rank_kv_heads(config), m.head_dim,
                                        m.kv_dtype);
  } catch (const std::system_error& e) {
    config.raw.fail("memory.policy", "the cpu back end cannot give memory.policy = " +
                                         config.memory.policy + " real virtual memory: " +
                                         e.what());
  }
}

// The warm-up batch: the most tokens one step can carry (scheduler.max_batched_tokens, at most
// max_num_seqs sequences of up to max_seq_len each), as prompts of up to max_seq_len tokens,
// each in its own contiguous region of a scratch arena of `*slots` slots.
std::vector<ForwardEntry> warm_up_batch(const ExperimentConfig& config, int64_t* slots) {
  const int32_t max_len =
      std::max(2, std::min(config.model.max_seq_len, config.scheduler.max_seq_len));
  int64_t left = std::min<int64_t>(config.scheduler.max_batched_tokens,
                                   int64_t{std::max(1, config.scheduler.max_num_seqs)} * max_len);
  std::vector<ForwardEntry> batch;
  while (left > 0) {
    const auto n = static_cast<int32_t>(std::min<int64_t>(left, max_len));
    KvLayout layout;
    layout.kind = KvLayout::Kind::kContiguous;
    layout.base_slot = static_cast<int64_t>(batch.size()) * max_len;
    layout.reserved_slots = max_len;
    batch.push_back({std::vector<int32_t>(static_cast<size_t>(n), 0), 0, layout, true});
    left -= n;
  }
  *slots = static_cast<int64_t>(batch.size()) * max_len;
  return batch;
}

}  // namespace

CpuExecutor::CpuExecutor(const ExperimentConfig& config)
    : group_((check_config(config), retain_freed_host_memory(), config.tensor_parallel > 1
                                         ? std::make_unique<cpu::SharedMemoryGroup>(
                                               config.tensor_parallel)
                                         : nullptr)),
      threads_(config.tensor_parallel) {
  // Each rank loads its slice on its own thread (each reads whole tensors from the source).
  std::vector<std::unique_ptr<DecoderModel>> models(static_cast<size_t>(threads_.size()));
  on_every_rank([&](int32_t r) {
    models[static_cast<size_t>(r)] = make_model(
        config, TpShard{.rank = r,
                        .size = config.tensor_parallel,
                        .comm = group_ ? &group_->rank(r) : nullptr});
  });
  for (std::unique_ptr<DecoderModel>& model : models) {
    std::unique_ptr<VmmKvArena> vmm = make_vmm_arena(config);
    cpu::CpuKvCache device = model->make_kv_cache(vmm ? 0 : config.memory.capacity_slots);
    cpu::CpuKvCache host = model->make_kv_cache(config.memory.swap_capacity_slots);
    ranks_.push_back(Rank{std::move(model), std::move(vmm), std::move(device), std::move(host)});
  }
  warm_up(config);
}

void CpuExecutor::warm_up(const ExperimentConfig& config) {
  int64_t slots = 0;
  const std::vector<ForwardEntry> batch = warm_up_batch(config, &slots);
  on_every_rank([&](int32_t r) {
    const DecoderModel& model = *ranks_[static_cast<size_t>(r)].model;
    cpu::CpuKvCache scratch = model.make_kv_cache(slots);
    model.forward(batch, scratch);
  });
}

std::string CpuExecutor::name() const {
  const std::string model_name = model().spec().name;
  if (num_ranks() == 1) return "cpu(" + model_name + ")";
  return "cpu(" + model_name + ", " + std::to_string(num_ranks()) + " ranks)";
}

void CpuExecutor::on_every_rank(const std::function<void(int32_t)>& fn) {
  threads_.run(fn, [this] {
    if (group_) group_->abort();  // release the ranks waiting for the failed one
  });
}

StepResult CpuExecutor::execute(const SchedulerOutput& plan, const KvCacheManager& kv) {
  const auto start = std::chrono::steady_clock::now();
  StepResult result;
  const bool virtual_memory = ranks_.front().vmm != nullptr;
  if (virtual_memory) {
    for (Rank& rank : ranks_) {
      const VmmCallCounters before = rank.vmm->counters();
      rank.vmm->mirror(kv);
      result.vmm_calls += rank.vmm->counters().calls - before.calls;
      result.vmm_s += rank.vmm->counters().seconds - before.seconds;
    }
  }
  std::vector<ForwardEntry> entries;
  if (plan.has_work()) {
    // Every rank's arena has the same ranges, so rank 0's layouts serve them all.
    const VmmKvArena* vmm = ranks_.front().vmm.get();
    entries = vmm ? forward_entries(plan,
                                    [&](const Sequence& seq) {
                                      return vmm->layout(kv.virtual_range(seq));
                                    })
                  : forward_entries(plan, kv);
  }
  const double collective_before = group_ ? group_->rank(0).seconds() : 0.0;
  cpu::RowMatrix logits;
  on_every_rank([&](int32_t r) {
    Rank& rank = ranks_[static_cast<size_t>(r)];
    cpu::swap_out(rank.arena(), rank.host, plan.swap_out);
    cpu::swap_in(rank.host, rank.arena(), plan.swap_in);
    cpu::copy_kv_within(rank.arena(), plan.copies);
    if (entries.empty()) return;
    cpu::RowMatrix out = rank.model->forward(entries, rank.vmm ? rank.vmm->virtual_cache() : rank.device);
    if (r == 0) logits = std::move(out);  // every rank's logits are the same
  });
  if (group_) result.terms.push_back({kCollectiveTerm, group_->rank(0).seconds() - collective_before});

  if (!entries.empty()) {
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
  on_every_rank([&](int32_t r) { cpu::copy_kv_within(ranks_[static_cast<size_t>(r)].arena(), copies); });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void register_cpu_executor(ExecutorRegistry& registry) {
  registry.add({.name = "cpu",
                .factory = [](const ExperimentConfig& config) -> std::unique_ptr<Executor> {
                  return std::make_unique<CpuExecutor>(config);
                },
                .description = "real compute on the CPU: the model's family (llama, opt) with "
                               "dummy weights, fp32, Eigen, over the manager's real KV layout "
                               "(virtual: real mmap/memfd virtual memory); "
                               "model.tensor_parallel ranks as threads",
                .keys = real_backend_keys(),
                .traits = {.real = true,
                           .exclusive_device = false,
                           .ranks_in_process = true,
                           .capacity_probe = {},
                           .check_config = check_config,
                           .profile = profile_cpu_backend}});
}

}  // namespace kvlab
