// CudaExecutor: the `cuda` back end. The CPU back end's contract (kernels/cpu_executor.h) on
// a GPU: it carries out the plan's memory movements in the SchedulerOutput order (swap out to
// the pinned host pool, swap in, copy-on-write copies), runs the batch (prefill chunks and
// decodes together) through the device model of its family (CudaLlamaModel, CudaOptModel:
// make_cuda_decoder_model) over the manager's KV layout in backend.dtype, samples the draws
// of core/sampling_rows.h, and returns the ids in their order and the step's time measured
// with CUDA events (from the first movement to the last sampled id on the host). copy_within()
// carries out the step's fork copies in the device arena, timed the same way.
//
// Models: llama- and opt-family shapes of the catalog, dummy weights from backend.weights_seed
// (host-generated up to ~134M parameters, so tiny models equal the CPU engine's weights;
// device-generated above: same distributions, different values; see llama_weights.h and
// opt_weights.h).
// Families other than llama and opt are refused (model.name), and so is
// model.tensor_parallel > 1: one GPU (kernels/model/single_rank.h, the cpu back end's rule too).
// The registry entry's check_config refuses these, and a host pool over budget, without a
// device.
//
// Sampling: every draw of a step (greedy, temperature, top-k, top-p, repetition penalty) runs on
// the GPU (kernels/cuda/sampling.h), seeded per (request, sample, position) exactly as the CPU
// back end; only the token ids come back. Greedy ids equal the CPU sampler's on the same
// logits; random draws too, except when the CPU's draw lay within ~1e-12 of a CDF / top-p
// boundary (sampling_row.h).
//
// Memory and capacity. memory.capacity_slots is fixed before the manager is built, and the
// manager hands out slots below it, so this executor allocates exactly that many device
// slots, stored as memory.kv_dtype: auto (or the name of backend.dtype) in backend.dtype,
// fp8_e4m3 or int8 quantized on write with per-(token, KV head) scales (CudaKvCache), the host
// swap pool likewise; other KV dtypes are refused (memory.kv_dtype). A slot's bytes are
// ModelSpec::kv_bytes_per_slot's, the simulator's and cpu back end's rule, auto meaning
// backend.dtype. Given as memory.capacity_slots or hardware.kv_cache_gb
// (resolve_experiment), it is taken as is; otherwise this back end's capacity probe
// (the back end's ExecutorTraits::capacity_probe, called by make_engine) measures the device:
// floor((free x hardware.gpu_memory_utilization - weights - activations - 512 MiB) / slot
// bytes), device_capacity.h. At construction the executor measures the free memory again
// (cudaMemGetInfo) and refuses, with an InputError naming hardware.kv_cache_gb (or
// memory.capacity_slots when that was given), a configuration whose weights + KV arena +
// activations + 512 MiB do not fit; the message says how many slots do fit and the
// hardware.kv_cache_gb that gives them. The swap pool is host memory of
// swap_capacity_slots slots, refused above backend.max_host_memory_gb (memory.swap_space_gb),
// reserved at construction and committed and pinned only as swaps write it (kv_cache.h).
// Each executor holds its own weights: run cuda sweeps with --jobs 1.
//
// Virtual memory: under a memory policy that maps pages on demand (its vmm_geometry trait:
// memory.policy = virtual) the device arena is real device virtual memory over the driver's
// VMM API (kernels/cuda/vmm_kv_arena.h): a pool of cuMemCreate pages, one reserved address
// range per virtual range, mirrored from the manager's page tables at the start of every step
// (cuMemMap + cuMemSetAccess / cuMemUnmap), and the unchanged contiguous decode and prefill
// kernels over each sequence's virtually contiguous range. Swaps and copies move data
// through the pool's physical view. The mapping calls and their host time are the step's
// StepResult::vmm_calls and vmm_s (and its "vmm" cost term; part of duration_s, before the
// CUDA-event time). Refused at construction: a device without VMM support (memory.policy)
// and a real page that is not a multiple of the device's allocation granularity
// (memory.page_size: 2 MiB on the GPUs we know, so 64-256 KiB pages are refused there).
//
// No device (no driver, no GPU): InputError "backend.kind = cuda: no CUDA device (...)".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/executor.h"
#include "core/experiment.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_query.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/kv_cache.h"
#include "kernels/cuda/decoder_model.h"
#include "kernels/cuda/sampling.h"
#include "kernels/cuda/staged_upload.h"
#include "kernels/cuda/vmm_kv_arena.h"

namespace kvlab::cuda {

class CudaExecutor : public Executor {
 public:
  // Throws InputError (no device; backend.device out of range; model.name of a family the back end does not run
  // or a shape it cannot run;
  // model.tensor_parallel > 1; hardware.kv_cache_gb / memory.capacity_slots / memory.swap_space_gb
  // too large), CudaError when CUDA fails.
  explicit CudaExecutor(const ExperimentConfig& config);
  ~CudaExecutor() override;

  std::string name() const override;
  bool is_real() const override { return true; }
  bool runs_on_catalog_hardware() const override { return true; }  // the GPU hardware.name names
  StepResult execute(const SchedulerOutput& plan, const KvCacheManager& kv) override;
  double copy_within(const std::vector<KvCopy>& copies) override;

  const CudaDecoderModel& model() const { return *model_; }
  const DeviceInfo& device() const { return device_; }

 private:
  // Appends the step's token ids in draw order (core/sampling_rows.h).
  void sample(const SchedulerOutput& plan, const float* logits, int64_t rows,
              std::vector<int32_t>& token_ids);
  // The arena the manager's slot indices (and KvCopy lists) address.
  CudaKvCache& arena() { return vmm_ ? vmm_->physical() : *arena_; }

  DeviceInfo device_;  // first: constructing it selects the device for everything below
  DType dtype_;
  std::unique_ptr<CudaStream> stream_;
  std::unique_ptr<CudaDecoderModel> model_;
  std::unique_ptr<CudaKvCache> arena_;      // unless the policy maps pages on demand
  std::unique_ptr<CudaVmmKvArena> vmm_;     // memory.policy = virtual: the device arena
  std::unique_ptr<CudaKvCache> host_pool_;
  std::unique_ptr<StagedUpload> copy_lists_;  // fork / copy-on-write lists for the copy kernel
  std::unique_ptr<DeviceSampler> sampler_;    // created on first use
  std::vector<SampleDraw> draws_;
  DeviceBuffer device_ids_;
  PinnedBuffer host_ids_;
  std::unique_ptr<CudaEvent> start_, moved_, done_;
};

// Registers the "cuda" back end (its keys: real_backend_keys(); traits: real, one point at a
// time, the device capacity probe).
void register_cuda_executor(ExecutorRegistry& registry);

}  // namespace kvlab::cuda
