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

namespace kvlab {

class CpuExecutor : public Executor {
 public:
  // Throws InputError naming model.name (a family the CPU model does not run, or a shape it
  // refuses; the message names model.family and the field), model.tensor_parallel (not 1),
  // memory.capacity_slots or memory.swap_space_gb (over the memory budget). All but the shape
  // are also refused by the registry entry's check_config, before anything is built.
  explicit CpuExecutor(const ExperimentConfig& config);

  std::string name() const override;
  bool is_real() const override { return true; }
  StepResult execute(const SchedulerOutput& plan, const KvCacheManager& kv) override;
  double copy_within(const std::vector<KvCopy>& copies) override;

  const DecoderModel& model() const { return *model_; }

 private:
  std::unique_ptr<DecoderModel> model_;
  cpu::CpuKvCache device_;
  cpu::CpuKvCache host_;
};

// Registers the "cpu" back end (its keys: real_backend_keys()).
void register_cpu_executor(ExecutorRegistry& registry);

}  // namespace kvlab
