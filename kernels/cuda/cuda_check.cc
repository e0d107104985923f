#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

std::string describe(cudaError_t status) {
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

void check_cuda(cudaError_t status, const std::string& what) {
  if (status != cudaSuccess) throw CudaError(what + ": " + describe(status));
}

void check_cublas(cublasStatus_t status, const std::string& what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw CudaError(what + ": cuBLAS " + cublasGetStatusName(status) + " (" +
                    cublasGetStatusString(status) + ")");
  }
}

}  // namespace kvlab::cuda
