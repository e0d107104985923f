#include "kernels/cuda/device_kv_tables.h"

#include <algorithm>
#include <type_traits>

namespace kvlab::cuda {

// The mirrors must stay in step with kernels/kv_cache_view.h.
static_assert(sizeof(DeviceKvArena<float>) == sizeof(KvArenaView<float>));
static_assert(std::is_same_v<decltype(DeviceKvArena<float>::slot_stride),
                             decltype(KvArenaView<float>::slot_stride)>);
static_assert(std::is_same_v<decltype(DeviceKvArena<float>::head_stride),
                             decltype(KvArenaView<float>::head_stride)>);
static_assert(std::is_same_v<decltype(DeviceKvArena<float>::num_slots),
                             decltype(KvArenaView<float>::num_slots)>);
static_assert(
    std::is_same_v<decltype(DeviceSeqView::context_lens), decltype(KvSeqView::context_lens)>);
static_assert(
    std::is_same_v<decltype(DeviceSeqView::block_indptr), decltype(KvSeqView::block_indptr)>);
static_assert(
    std::is_same_v<decltype(DeviceSeqView::block_indices), decltype(KvSeqView::block_indices)>);
static_assert(std::is_same_v<decltype(DeviceSeqView::base_slots), decltype(KvSeqView::base_slots)>);

KvSeqView StagedSeqTables::view(const StagedUpload& upload) const {
  KvSeqView v;
  v.kind = kind;
  v.num_seqs = num_seqs;
  v.block_size = block_size;
  v.context_lens = upload.device<const int32_t>(context_lens);
  if (kind == KvLayout::Kind::kPaged) {
    v.block_indptr = upload.device<const int32_t>(block_indptr);
    v.block_indices = upload.device<const int32_t>(block_indices);
  } else {
    v.base_slots = upload.device<const int64_t>(base_slots);
  }
  return v;
}

StagedSeqTables stage_tables(const KvBatchTables& tables, StagedUpload& upload) {
  StagedSeqTables s;
  s.kind = tables.kind();
  s.num_seqs = static_cast<int32_t>(tables.context_lens().size());
  s.block_size = tables.block_size();
  for (int32_t len : tables.context_lens()) s.max_context = std::max(s.max_context, len);
  s.context_lens = upload.add(tables.context_lens());
  if (s.kind == KvLayout::Kind::kPaged) {
    s.block_indptr = upload.add(tables.block_indptr());
    s.block_indices = upload.add(tables.block_indices());
  } else {
    s.base_slots = upload.add(tables.base_slots());
  }
  return s;
}

DeviceSeqView to_device(const KvSeqView& view) {
  DeviceSeqView d;
  d.paged = view.kind == KvLayout::Kind::kPaged;
  d.num_seqs = view.num_seqs;
  d.context_lens = view.context_lens;
  d.block_size = view.block_size;
  d.block_indptr = view.block_indptr;
  d.block_indices = view.block_indices;
  d.base_slots = view.base_slots;
  return d;
}

}  // namespace kvlab::cuda
