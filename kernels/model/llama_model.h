// LlamaModel: a Llama-style decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU MLP)
// for any llama-family ModelSpec shape, computed in fp32 with the CPU reference ops over the
// real KV-cache layout a memory manager hands out (paged or contiguous).
//
// One forward is one engine step: a batch of entries, each a run of consecutive tokens of one
// sequence (a whole prompt, a prompt chunk following earlier chunks, or a single decode
// token), at their positions, with that sequence's KvLayout. For each layer the K/V of every
// entry's tokens is written into the cache at its slots first, then attention reads the cache
// (entries of more than one token through prefill_attention, single tokens through
// decode_attention). The logits of the last token of each entry that samples come back.
//
// Equivalences this gives (and the tests pin): the same request's logits do not depend on
// its layout (block size, which blocks, contiguous), on how its prompt is chunked, or on the
// other entries of the batch, up to float rounding (Eigen's GEMM blocking depends on the
// batch's token count, so results agree to ~1e-6 relative, not bitwise).
//
// Thread safety: forward() is const and keeps its scratch in locals; concurrent calls are safe
// with distinct caches.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/kv_cache_manager.h"
#include "core/model_spec.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/cpu/tensor.h"
#include "kernels/model/llama_weights.h"
#include "kernels/model/weight_source.h"

namespace kvlab {

// Tokens [start, start + tokens.size()) of one sequence, processed in one step.
struct ForwardEntry {
  std::vector<int32_t> tokens;  // their ids, in order (non-empty)
  int32_t start = 0;            // position of tokens[0]: the K/V of positions [0, start) are
                                // already in the cache (earlier chunks or steps)
  KvLayout layout;              // where positions [0, start + tokens.size()) live
  bool samples = true;          // return the logits after its last token
};

struct LlamaOptions {
  float rms_norm_eps = 1e-5f;  // Llama 2 / 3
};

class LlamaModel {
 public:
  // Throws InputError when `spec` is not a runnable llama shape (validate_llama_spec) or the
  // source lacks a tensor.
  LlamaModel(ModelSpec spec, const WeightSource& source, LlamaOptions options = {});

  const ModelSpec& spec() const { return spec_; }
  const LlamaWeights& weights() const { return weights_; }

  // A zero-filled cache of `num_slots` slots shaped for this model.
  cpu::CpuKvCache make_kv_cache(int64_t num_slots) const;

  // Runs one step over `batch` (see the header comment) and returns [num_sampling][vocab]:
  // a row per entry with samples == true, in batch order.
  // REQUIRES (checked): `cache` is shaped for this model; every layout holds its entry's
  // positions within the cache; entries of one batch are distinct sequences with
  // non-overlapping slots; all layouts of one kind (and block size, when paged).
  // Throws InputError for a token id outside the vocabulary.
  cpu::RowMatrix forward(std::span<const ForwardEntry> batch, cpu::CpuKvCache& cache) const;

 private:
  ModelSpec spec_;
  LlamaOptions options_;
  LlamaWeights weights_;
};

}  // namespace kvlab
