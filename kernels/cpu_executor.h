// CpuExecutor: the `cpu` back end. Runs the model of the config's family (llama: LlamaModel;
// opt: OptModel; make_decoder_model picks it) with dummy weights from backend.weights_seed, in
// fp32 with the Eigen reference ops over the KV layout the memory manager hands out, so a
// policy's layout, copy-on-write, swaps and preemptions act on real KV data. Slow and exact;
// the reference the CUDA executor is checked against.
//
// execute(): carries out the plan's memory movements in the SchedulerOutput order (swap out
// to the host arena, swap in, copy-on-write copies), runs the batch (prefill chunks and
// decodes together), draws each token of core/sampling_rows.h's for_each_draw with its
// request's SamplingParams (seeded per request, sample and position), and returns the ids and
// the measured wall time of the step. copy_within() carries out the step's fork copies in the
// device arena and returns their measured time. Recompute preemption really recomputes: the
// scheduler re-prefills the tokens, and this executor computes them again.
//
// Tensor parallelism: model.tensor_parallel = T runs T ranks, each a thread of this process
// (kernels/cpu/rank_threads.h: T - 1 workers kept for the run, plus the calling thread as rank
// 0), each holding its slice of the model (kernels/model/tensor_parallel.h: its heads, MLP
// columns and vocabulary rows) and its own device and host arenas for its KV heads, at the
// same slot indices: one memory manager and one set of block tables serve every rank (as one
// vLLM scheduler serves its workers), and every rank carries out the step's swaps, copies and
// copy-on-write on its arenas. The ranks join their slices through shared-memory collectives
// (kernels/cpu/collective.h; a NCCL communicator can take their place), chosen so the logits
// are bit for bit those of T = 1: greedy tokens and output_digest do not depend on T. The
// step's measured collective time (rank 0's, waits for the other ranks included) is its
// "collective" cost term (the steps table's cost_collective_s; the simulator prices its
// all-reduces as cost_allreduce_s). model.pipeline_parallel > 1 is refused.
//
// Virtual memory: under a memory policy that maps pages on demand (its vmm_geometry trait:
// memory.policy = virtual) the device arena is real virtual memory (kernels/vmm_kv_arena.h):
// a memfd page pool and one reserved address range per virtual range, mirrored from the
// manager's page tables at the start of every step, and the model runs its contiguous
// attention kernels over each sequence's virtually contiguous range. Swaps and copies move
// KV through the pool's physical view. The step's mmap calls and their measured time are
// StepResult::vmm_calls and vmm_s. Refused (memory.kv_dtype, memory.page_size): scaled KV
// dtypes, and a real page that is not a whole number of OS pages.
//
// Start-up: freed host memory is kept in the process (kernels/host_allocator.h) and one
// untimed forward of the largest batch the scheduler can form warms the heap (warm_up()), so
// steps are not charged for page faults a server with a caching allocator does not take
// (docs/reproduction.md, Fidelity).
//
// Memory: the device arena holds capacity_slots slots and the host arena the swap pool's
// slots, both stored as memory.kv_dtype (auto: fp32; fp16, bf16, fp8_e4m3 or int8 quantized
// on write and dequantized in attention, scales moving with their slots) in process memory
// committed as slots are written (kernels/cpu/kv_cache.h);
// a config whose arenas and weights exceed backend.max_host_memory_gb is refused with an
// error naming the key to change.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/executor.h"
#include "core/experiment.h"
#include "kernels/cpu/collective.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/cpu/rank_threads.h"
#include "kernels/model/decoder_model.h"
#include "kernels/vmm_kv_arena.h"

namespace kvlab {

class CpuExecutor : public Executor {
 public:
  // Throws InputError naming model.name (a family the CPU model does not run, or a shape it
  // refuses; the message names model.family and the field), model.tensor_parallel (not a
  // divisor of the heads and KV heads), model.pipeline_parallel (not 1),
  // memory.capacity_slots or memory.swap_space_gb (over the memory budget), memory.kv_dtype or
  // memory.page_size (virtual memory it cannot map), memory.policy (the kernel refuses
  // memfd_create or the address space). All but the shape and the kernel's refusals are also
  // refused by the registry entry's check_config, before anything is built.
  explicit CpuExecutor(const ExperimentConfig& config);

  std::string name() const override;
  bool is_real() const override { return true; }
  StepResult execute(const SchedulerOutput& plan, const KvCacheManager& kv) override;
  double copy_within(const std::vector<KvCopy>& copies) override;

  // Rank 0's model (the whole model when model.tensor_parallel = 1).
  const DecoderModel& model() const { return *ranks_.front().model; }
  int32_t num_ranks() const { return static_cast<int32_t>(ranks_.size()); }

 private:
  // One tensor-parallel rank: its slice of the model and its arenas.
  struct Rank {
    std::unique_ptr<DecoderModel> model;
    std::unique_ptr<VmmKvArena> vmm;  // memory.policy = virtual: the device arena
    cpu::CpuKvCache device;           // otherwise (0 slots under virtual memory)
    cpu::CpuKvCache host;
    // The arena the manager's slot indices (and KvCopy lists) address.
    cpu::CpuKvCache& arena() { return vmm ? vmm->physical() : device; }
  };

  // Start-up warm-up, before any step is timed (vLLM's profile run does the same): one
  // forward of the largest batch the scheduler can form, on every rank's thread, over a
  // scratch KV arena (the device arena is not touched), so the heap holds the peak step's
  // activations (kept there: kernels/host_allocator.h) and the first steps are not charged
  // for faulting them in.
  void warm_up(const ExperimentConfig& config);

  // Runs fn(rank) on every rank's thread at once (kernels/cpu/rank_threads.h).
  void on_every_rank(const std::function<void(int32_t)>& fn);

  std::unique_ptr<cpu::SharedMemoryGroup> group_;  // model.tensor_parallel > 1
  cpu::RankThreads threads_;
  std::vector<Rank> ranks_;
};

// Registers the "cpu" back end (its keys: real_backend_keys()).
void register_cpu_executor(ExecutorRegistry& registry);

}  // namespace kvlab
