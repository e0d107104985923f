#include "kernels/cuda/staged_upload.h"

#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

StagedUpload::StagedUpload() = default;

void StagedUpload::clear() {
  if (pending_) {
    copied_.synchronize();
    pending_ = false;
  }
  host_.clear();
}

void StagedUpload::upload(cudaStream_t stream) {
  if (host_.empty()) return;
  if (pending_) copied_.synchronize();
  pinned_.reserve(host_.size());
  device_.reserve(host_.size());
  std::memcpy(pinned_.data(), host_.data(), host_.size());
  check_cuda(
      cudaMemcpyAsync(device_.data(), pinned_.data(), host_.size(), cudaMemcpyHostToDevice, stream),
      "StagedUpload: cudaMemcpyAsync of " + std::to_string(host_.size()) + " bytes");
  copied_.record(stream);
  pending_ = true;
}

}  // namespace kvlab::cuda
