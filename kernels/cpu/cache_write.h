// Writing the K and V of new tokens into their cache slots (vLLM's reshape_and_cache).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu/kv_quant.h"
#include "kernels/cpu/tensor.h"
#include "kernels/kv_cache_view.h"

namespace kvlab::cpu {

// Row r of `k` and `v` ([n][num_kv_heads * head_dim], heads concatenated) goes to slot
// slot_mapping[r] of `arena`; a negative slot skips the row (padding, as in vLLM).
// REQUIRES (checked): shapes match the arena; every slot < arena.num_slots.
void write_kv(const MatrixCRef& k, const MatrixCRef& v, std::span<const int64_t> slot_mapping,
              const KvArenaView<float>& arena);
// The same into a layer in any stored format: each (row, KV head) vector is quantized on
// write (quantize_kv, with its scale). An fp32 store is the overload above, exactly.
void write_kv(const MatrixCRef& k, const MatrixCRef& v, std::span<const int64_t> slot_mapping,
              const KvLayerStore& store);

// The slot of each of `num_tokens` tokens starting at token index `start` of a sequence laid
// out by `layout`, appended to `slot_mapping`: the slot mapping for write_kv.
// REQUIRES (checked): the layout holds tokens [start, start + num_tokens).
void append_slot_mapping(const KvLayout& layout, int32_t start, int32_t num_tokens,
                         std::vector<int64_t>& slot_mapping);

}  // namespace kvlab::cpu
