// The rule a real back end applies to memory.kv_dtype when it stores only some of the KV
// dtypes (core/kv_dtype.h): a config asking for another is refused before anything is built,
// naming the key and what the back end stores, rather than silently run in its own dtype.
// The cpu back end stores every dtype; the cuda back end stores backend.dtype (auto, or the
// same name), fp8_e4m3 and int8, and refuses the other float dtypes.
#pragma once

#include <string>
#include <vector>

#include "core/experiment.h"
#include "core/kv_dtype.h"

namespace kvlab {

// Throws InputError naming memory.kv_dtype unless config.model.kv_dtype is one of `stored`.
// `backend` is the back end's name (backend.kind), `what` says what it stores ("K/V in
// backend.dtype (fp16)").
void require_kv_dtype(const ExperimentConfig& config, const std::string& backend,
                      const std::vector<KvDtype>& stored, const std::string& what);

}  // namespace kvlab
