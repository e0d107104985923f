// DecoderModel: one decoder-only transformer family computed in fp32 with the CPU reference
// ops over the real KV-cache layout a memory manager hands out (paged or contiguous). The CPU
// executor holds one and never knows which family it is.
//
// One forward is one engine step: a batch of entries, each a run of consecutive tokens of one
// sequence (a whole prompt, a prompt chunk following earlier chunks, or a single decode
// token), at their positions, with that sequence's KvLayout. For each layer the K/V of every
// entry's tokens is written into the cache at its slots first, then attention reads the cache
// (entries of more than one token through prefill_attention, single tokens through
// decode_attention); DecoderStep (decoder_step.h) is that shared part. The logits of the last
// token of each entry that samples come back.
//
// Equivalences every family gives (and the tests pin): the same request's logits do not depend
// on its layout (block size, which blocks, contiguous), on how its prompt is chunked, or on the
// other entries of the batch, up to float rounding (Eigen's GEMM blocking depends on the
// batch's token count, so results agree to ~1e-6 relative, not bitwise).
//
// Families, by ModelSpec::family: "llama" (LlamaModel: RMSNorm, RoPE, GQA, SwiGLU) and "opt"
// (OptModel: learned positions, LayerNorm, biases, ReLU MLP). cpu_model_families() lists them
// (each family's register_*_family()).
//
// Tensor parallelism (kernels/model/tensor_parallel.h): a family built with a TpShard of
// size T > 1 is one rank of the model; the T ranks' forward() run at once, each on its own
// thread and its own cache (of its KV heads), and return the same logits, bit for bit those
// of the whole model.
//
// Thread safety: forward() is const and keeps its scratch in locals; concurrent calls are safe
// with distinct caches.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/kv_cache_manager.h"
#include "core/model_spec.h"
#include "core/registry.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/cpu/tensor.h"
#include "kernels/model/tensor_parallel.h"
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

class DecoderModel {
 public:
  virtual ~DecoderModel() = default;

  virtual const ModelSpec& spec() const = 0;
  // The shape this rank computes and caches: spec() with the heads and KV heads of its slice
  // when it is one rank of a tensor-parallel model (kernels/model/tensor_parallel.h).
  virtual const ModelSpec& rank_spec() const { return spec(); }

  // A zero-filled cache of `num_slots` slots shaped for this model's rank (rank_spec()'s KV
  // heads), stored as its spec().kv_dtype (auto: fp32).
  cpu::CpuKvCache make_kv_cache(int64_t num_slots) const;

  // Runs one step over `batch` (see the header comment) and returns [num_sampling][vocab]:
  // a row per entry with samples == true, in batch order.
  // REQUIRES (checked): `cache` is shaped for this model; every layout holds its entry's
  // positions within the cache; entries of one batch are distinct sequences with
  // non-overlapping slots; all layouts of one kind (and block size, when paged).
  // Throws InputError for a token id outside the vocabulary (and, for families with a
  // position table, a position past it).
  virtual cpu::RowMatrix forward(std::span<const ForwardEntry> batch,
                                 cpu::CpuKvCache& cache) const = 0;
};

// Throws InputError naming the field (model.num_layers, ...) when a size of `spec` that every
// family needs is not positive: layers, hidden, heads, kv heads, head_dim, ffn, vocab,
// max_seq_len.
void validate_decoder_sizes(const ModelSpec& spec);

// What a family's factory gets. Both references outlive only the call; the shard's
// communicator outlives the model.
struct DecoderModelInit {
  const ModelSpec& spec;
  const WeightSource& source;
  TpShard shard = {};  // one rank of a tensor-parallel model (default: the whole model)
};

// Factories by family name ("llama", "opt").
Registry<DecoderModel, DecoderModelInit>& cpu_model_families();

// The model of `spec.family` with weights from `source` (rank shard.rank of it, with
// shard.size > 1). Throws InputError (field model.family) naming spec.name, spec.family and the
// families known, or the family's own InputError when the shape is not runnable.
std::unique_ptr<DecoderModel> make_decoder_model(const ModelSpec& spec, const WeightSource& source,
                                                 TpShard shard = {});

}  // namespace kvlab
