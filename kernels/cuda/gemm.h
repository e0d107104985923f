// Linear layers on the GPU through cuBLAS (cublasGemmEx, fp32 compute): the CUDA twin of
// kernels/cpu/gemm.h. out = x * weight^T (+ out when accumulating, the fused residual add),
// weight in torch's row-major [out_features][in_features] layout.
//
// Types: x and weight in the storage type T; out in T or in fp32 (the LM head writes fp32
// logits). With T = float the GEMM is plain fp32 (cuBLAS's default math mode never uses TF32
// unless NVIDIA_TF32_OVERRIDE says so), which is what lets fp32 runs match the CPU engine.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace kvlab::cuda {

// An owned cuBLAS handle bound to one stream.
class CublasHandle {
 public:
  explicit CublasHandle(cudaStream_t stream);
  ~CublasHandle();
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

// out[rows][out_features] (rows out_stride apart) = x[rows][in] (x_stride) * weight^T,
// plus beta * out. REQUIRES (checked): strides >= the widths; sizes < 2^31.
// Out is T or float.
template <typename T, typename Out>
void linear(const CublasHandle& cublas, const T* x, int64_t x_stride, const T* weight, int64_t rows,
            int64_t in_features, int64_t out_features, Out* out, int64_t out_stride,
            float beta = 0.0f);

// The cudaDataType_t of a storage type.
cudaDataType_t cuda_data_type(DType dtype);

}  // namespace kvlab::cuda
