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
// One rank: the whole model runs in this process; model.tensor_parallel > 1 is refused (as
// the cuda back end does) until the back end can split a model.
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
// Memory: the device arena holds capacity_slots slots and the host arena the swap pool's
// slots, both stored as memory.kv_dtype (auto: fp32; fp16, bf16, fp8_e4m3 or int8 quantized
// on write and dequantized in attention, scales moving with their slots) in process memory
// committed as slots are written (kernels/cpu/kv_cache.h);
// a config whose arenas and weights exceed backend.max_host_memory_gb is refused with an
// error naming the key to change.
#pragma once

#include <memory>

#include "core/executor.h"
#include "core/experiment.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/model/decoder_model.h"
#include "kernels/vmm_kv_arena.h"

namespace kvlab {

class CpuExecutor : public Executor {
 public:
  // Throws InputError naming model.name (a family the CPU model does not run, or a shape it
  // refuses; the message names model.family and the field), model.tensor_parallel (not 1),
  // memory.capacity_slots or memory.swap_space_gb (over the memory budget), memory.kv_dtype or
  // memory.page_size (virtual memory it cannot map), memory.policy (the kernel refuses
  // memfd_create or the address space). All but the shape and the kernel's refusals are also
  // refused by the registry entry's check_config, before anything is built.
  explicit CpuExecutor(const ExperimentConfig& config);

  std::string name() const override;
  bool is_real() const override { return true; }
  StepResult execute(const SchedulerOutput& plan, const KvCacheManager& kv) override;
  double copy_within(const std::vector<KvCopy>& copies) override;

  const DecoderModel& model() const { return *model_; }

 private:
  // The arena the manager's slot indices (and KvCopy lists) address.
  cpu::CpuKvCache& device() { return vmm_ ? vmm_->physical() : device_; }

  std::unique_ptr<DecoderModel> model_;
  std::unique_ptr<VmmKvArena> vmm_;  // memory.policy = virtual: the device arena
  cpu::CpuKvCache device_;           // otherwise (0 slots under virtual memory)
  cpu::CpuKvCache host_;
};

// Registers the "cpu" back end (its keys: real_backend_keys()).
void register_cpu_executor(ExecutorRegistry& registry);

}  // namespace kvlab
