// StepResult: what an Executor reports for one step (core/executor.h), and what the Engine
// hands back to the Scheduler (core/scheduler.h: update_from_output): the step's duration,
// its named cost terms, and the sampled token ids in the order core/sampling_rows.h defines.
#pragma once

#include <cstdint>
#include <vector>

namespace kvlab {

// A named part of a step's modeled time (gemm, attention, swap, ...), for the per-step table.
struct CostTerm {
  const char* name;  // static string
  double seconds;
};

struct StepResult {
  double duration_s = 0.0;
  // Sampled token ids, one per draw of for_each_draw (core/sampling_rows.h), in its order:
  // for each prefill chunk with samples == true, one id (or spec.n ids when it completes the
  // prompt of a group that has not forked yet: the first token of each sample); then one id
  // per decode. Empty for back ends that do not produce ids (the simulator).
  std::vector<int32_t> token_ids;
  std::vector<CostTerm> terms;
  // Real virtual memory (the cpu and cuda back ends under memory.policy = virtual): the calls
  // the step made to map and unmap pages (mmap; cuMemMap, cuMemSetAccess, cuMemUnmap), and
  // their measured seconds (part of duration_s). 0 elsewhere; the simulator prices mapping in
  // its "vmm" term instead.
  int64_t vmm_calls = 0;
  double vmm_s = 0.0;
  // The simulator's cost model priced the step off its measured range (StepCost).
  bool outside_profile = false;
};

}  // namespace kvlab
