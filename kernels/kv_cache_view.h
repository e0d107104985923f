// The KV-cache view: the one plain-data contract between a memory manager's layout
// (KvLayout, core/kv_cache_manager.h) and every attention / cache kernel, CPU or CUDA.
//
// Two parts, both non-owning and trivially copyable so they can be passed by value to a
// device kernel (in the spirit of FlashInfer's paged_kv_t, include/flashinfer/page.cuh):
//
//  - KvArenaView<T>: one layer's K and V arenas, each [num_slots][num_kv_heads][head_dim]
//    with explicit strides (in elements). The head_dim elements of one (slot, head) are
//    contiguous; slot_stride and head_stride say where the next slot and head start, so an
//    arena may be a slice of a larger allocation (e.g. all layers in one buffer).
//
//  - KvSeqView: for a batch of sequences, where each one's tokens live. CSR-like: for each
//    sequence its context length (tokens to attend over) and either
//      paged:      block_indices[block_indptr[i] .. block_indptr[i+1]) are its physical
//                  blocks; token t sits in slot block_indices[block_indptr[i] + t / block_size]
//                  * block_size + t % block_size;
//      contiguous: token t sits in slot base_slots[i] + t.
//    Contiguous is described in its own terms (base + length), not faked as blocks. All
//    sequences of one view share the kind (a manager has one), so kernels dispatch once.
//
// KvBatchTables is the host-side builder that owns the arrays a KvSeqView points into. A CUDA
// executor copies its vectors to the device and builds a KvSeqView over the device copies.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/kv_cache_manager.h"

// The accessors below run in device code too when this header is compiled by nvcc.
#if defined(__CUDACC__)
#define KVLAB_HOST_DEVICE __host__ __device__
#else
#define KVLAB_HOST_DEVICE
#endif

namespace kvlab {

template <typename T>
struct KvArenaView {
  T* k = nullptr;
  T* v = nullptr;
  int64_t num_slots = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int64_t slot_stride = 0;  // elements from slot s to slot s + 1
  int64_t head_stride = 0;  // elements from head h to head h + 1 within a slot

  KVLAB_HOST_DEVICE T* k_at(int64_t slot, int32_t head) const {
    return k + slot * slot_stride + head * head_stride;
  }
  KVLAB_HOST_DEVICE T* v_at(int64_t slot, int32_t head) const {
    return v + slot * slot_stride + head * head_stride;
  }

  // A read-only view of the same arena (also an implicit conversion, so a writable view can
  // be passed where kernels only read).
  KVLAB_HOST_DEVICE KvArenaView<const T> as_const() const {
    return KvArenaView<const T>{k, v, num_slots, num_kv_heads, head_dim, slot_stride, head_stride};
  }
  template <typename U = T>
  requires(!std::is_const_v<U>) KVLAB_HOST_DEVICE operator KvArenaView<const U>() const {
    return as_const();
  }
};

struct KvSeqView {
  KvLayout::Kind kind = KvLayout::Kind::kPaged;
  int32_t num_seqs = 0;
  const int32_t* context_lens = nullptr;  // [num_seqs]
  // Paged.
  int32_t block_size = 0;
  const int32_t* block_indptr = nullptr;   // [num_seqs + 1]
  const int32_t* block_indices = nullptr;  // [block_indptr[num_seqs]]
  // Contiguous.
  const int64_t* base_slots = nullptr;  // [num_seqs]

  // REQUIRES: 0 <= seq < num_seqs, 0 <= token < context_lens[seq].
  KVLAB_HOST_DEVICE int64_t slot_of(int32_t seq, int64_t token) const {
    if (kind == KvLayout::Kind::kContiguous) return base_slots[seq] + token;
    const int32_t block = block_indices[block_indptr[seq] + token / block_size];
    return static_cast<int64_t>(block) * block_size + token % block_size;
  }
};

// Calls fn(first_token, first_slot, count) for maximal runs of tokens [0, num_tokens) of
// sequence `seq` that sit in consecutive slots: one run for a contiguous sequence, one per
// stretch of physically consecutive blocks for a paged one. Runs come in token order.
// Kernels use this to read K/V through strided matrix maps instead of token by token.
template <typename Fn>
void for_each_slot_run(const KvSeqView& view, int32_t seq, int64_t num_tokens, Fn&& fn) {
  if (num_tokens <= 0) return;
  if (view.kind == KvLayout::Kind::kContiguous) {
    fn(int64_t{0}, view.base_slots[seq], num_tokens);
    return;
  }
  const int64_t bs = view.block_size;
  int64_t run_token = 0;
  int64_t run_slot = view.slot_of(seq, 0);
  int64_t run_len = 0;
  for (int64_t token = 0; token < num_tokens; token += bs) {
    const int64_t slot = view.slot_of(seq, token);
    const int64_t len = num_tokens - token < bs ? num_tokens - token : bs;
    if (slot != run_slot + run_len) {
      fn(run_token, run_slot, run_len);
      run_token = token;
      run_slot = slot;
      run_len = 0;
    }
    run_len += len;
  }
  fn(run_token, run_slot, run_len);
}

// Owns the per-batch arrays behind a KvSeqView.
class KvBatchTables {
 public:
  // Builds the tables for sequences whose layouts are `layouts` and whose context lengths
  // (tokens whose K/V the kernels read, including those written this step) are
  // `context_lens`. Paged block tables are trimmed to the blocks the context uses.
  // REQUIRES (checked, InvariantError): equal sizes, at least one sequence; every layout of
  // one kind; paged layouts share one block_size > 0 and hold enough blocks; contiguous
  // layouts reserve at least the context; every slot used lies in [0, arena_slots) when
  // arena_slots > 0.
  static KvBatchTables build(const std::vector<KvLayout>& layouts,
                             const std::vector<int32_t>& context_lens, int64_t arena_slots = 0);

  KvSeqView view() const;

  KvLayout::Kind kind() const { return kind_; }
  int32_t block_size() const { return block_size_; }
  const std::vector<int32_t>& context_lens() const { return context_lens_; }
  const std::vector<int32_t>& block_indptr() const { return block_indptr_; }
  const std::vector<int32_t>& block_indices() const { return block_indices_; }
  const std::vector<int64_t>& base_slots() const { return base_slots_; }

 private:
  KvLayout::Kind kind_ = KvLayout::Kind::kPaged;
  int32_t block_size_ = 0;
  std::vector<int32_t> context_lens_;
  std::vector<int32_t> block_indptr_;
  std::vector<int32_t> block_indices_;
  std::vector<int64_t> base_slots_;
};

}  // namespace kvlab
