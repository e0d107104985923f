#include "kernels/model/real_backend_keys.h"

namespace kvlab {

std::vector<KeySpec> real_backend_keys() {
  return {
      int_key("backend.device", 0, 0, kInt32Max, "cuda: device index"),
      choice_key("backend.dtype", "fp16", {"fp32", "fp16", "bf16"},
                 "cuda: fp32 | fp16 | bf16 storage (cpu computes in fp32)"),
      bool_key("backend.realtime", false,
               "cpu / cuda: wait for trace arrival times on a wall clock"),
      int_key("backend.weights_seed", 0, 0, kUnbounded, "cpu / cuda: seed of the dummy weights"),
      float_key("backend.temperature", "0", 0.0, 1e6,
                "cpu / cuda: sampling temperature (0: greedy)"),
      int_key("backend.top_k", 0, 0, kInt32Max,
              "cpu / cuda: keep the k most likely tokens (0: all)"),
      float_key("backend.top_p", "1", 0.0, 1.0, "cpu / cuda: nucleus sampling mass in (0, 1]", true,
                false),
      float_key("backend.repetition_penalty", "1", 0.0, 1e6,
                "cpu / cuda: > 1 discourages repeated tokens", true, false),
      float_key("backend.max_host_memory_gb", "8", 0.0, 1e9,
                "cpu / cuda: refuse host memory above this (GiB): cpu arenas and weights, cuda's "
                "pinned swap pool",
                true, false),
  };
}

}  // namespace kvlab
