// From the host's KV views to the device's: KvBatchTables (kernels/kv_cache_view.h) copied to
// the device through a StagedUpload, and the conversions from KvSeqView / KvArenaView (with
// device pointers) to the kernels' DeviceSeqView / DeviceKvArena mirrors.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/device_kv_view.h"
#include "kernels/cuda/staged_upload.h"
#include "kernels/kv_cache_view.h"

namespace kvlab::cuda {

// A KvBatchTables staged for upload: offsets into the StagedUpload plus the scalars.
struct StagedSeqTables {
  KvLayout::Kind kind = KvLayout::Kind::kPaged;
  int32_t num_seqs = 0;
  int32_t block_size = 0;
  int32_t max_context = 0;  // the longest context_lens entry (sizes kernel grids)
  size_t context_lens = 0;
  size_t block_indptr = 0;
  size_t block_indices = 0;
  size_t base_slots = 0;

  // The KvSeqView over the device copies. REQUIRES: upload.upload() has run.
  KvSeqView view(const StagedUpload& upload) const;
};

StagedSeqTables stage_tables(const KvBatchTables& tables, StagedUpload& upload);

// Field-for-field copies (pointers are used as they are: they must be device pointers).
DeviceSeqView to_device(const KvSeqView& view);
template <typename T>
DeviceKvArena<T> to_device(const KvArenaView<T>& arena) {
  return DeviceKvArena<T>{arena.k,        arena.v,           arena.num_slots,  arena.num_kv_heads,
                          arena.head_dim, arena.slot_stride, arena.head_stride};
}

}  // namespace kvlab::cuda
