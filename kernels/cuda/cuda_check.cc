#include "kernels/cuda/cuda_check.h"

#include "kernels/cuda/cublas_api.h"

namespace kvlab::cuda {

std::string describe(cudaError_t status) {
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

void check_cuda(cudaError_t status, const std::string& what) {
  if (status != cudaSuccess) throw CudaError(what + ": " + describe(status));
}

void check_cublas(cublasStatus_t status, const std::string& what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    const CublasApi& api = cublas_api();
    throw CudaError(what + ": cuBLAS " + api.status_name(status) + " (" +
                    api.status_string(status) + ")");
  }
}

}  // namespace kvlab::cuda
