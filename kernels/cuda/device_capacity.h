// The cuda back end's memory arithmetic, pure and host-testable: how many KV slots fit in a
// device's memory next to the model (vLLM's gpu_memory_utilization rule), given what the
// executor will allocate besides the arena.
//
//   slots = floor((free_bytes * utilization - weights - activations - reserve) / slot_bytes)
//
// and 0 when the bracket is not positive. Used twice: by the capacity probe (the arena's size
// when neither hardware.kv_cache_gb nor memory.capacity_slots is given, utilization =
// hardware.gpu_memory_utilization) and by the executor's check of a given capacity
// (utilization 1: "how many would fit" in its error message).
#pragma once

#include <cmath>
#include <cstdint>

namespace kvlab::cuda {

struct DeviceMemoryBudget {
  double free_bytes = 0;   // cudaMemGetInfo's free memory, after the CUDA context exists
  double utilization = 1;  // the fraction of free_bytes kvlab may take, (0, 1]
  double weight_bytes = 0;
  double activation_bytes = 0;
  double reserve_bytes = 0;  // cuBLAS workspaces, allocator slack
  double slot_bytes = 0;     // one token slot, K and V, every layer (> 0)
};

// REQUIRES: slot_bytes > 0.
inline int64_t kv_slots_that_fit(const DeviceMemoryBudget& b) {
  const double room =
      b.free_bytes * b.utilization - b.weight_bytes - b.activation_bytes - b.reserve_bytes;
  if (!(room > 0)) return 0;
  return static_cast<int64_t>(std::floor(room / b.slot_bytes));
}

}  // namespace kvlab::cuda
