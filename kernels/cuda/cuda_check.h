// Turning CUDA and cuBLAS status codes into exceptions with a clear message. Kernel launchers
// (the *_kernels.h functions, compiled by nvcc) return a cudaError_t; the checked wrappers
// around them, and every runtime / cuBLAS call in host code, go through these so a failure
// says which operation failed and why ("decode_attention: cudaErrorInvalidConfiguration:
// invalid configuration argument").
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace kvlab::cuda {

// A CUDA runtime or cuBLAS failure: the device, the driver or resources (out of memory), not
// the user's input. (Input is checked before anything runs and reported as InputError.)
class CudaError : public std::runtime_error {
 public:
  explicit CudaError(const std::string& message) : std::runtime_error(message) {}
};

// Throws CudaError("WHAT: NAME: DESCRIPTION") unless status is cudaSuccess.
void check_cuda(cudaError_t status, const std::string& what);
// Throws CudaError("WHAT: cuBLAS NAME") unless status is CUBLAS_STATUS_SUCCESS.
void check_cublas(cublasStatus_t status, const std::string& what);

// "NAME: DESCRIPTION" of a runtime status, e.g. for messages that are not thrown.
std::string describe(cudaError_t status);

}  // namespace kvlab::cuda
