#include "kernels/cuda/gemm.h"

#include <climits>
#include <string>
#include <type_traits>

#include "core/errors.h"
#include "kernels/cuda/cublas_api.h"
#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

CublasHandle::CublasHandle(cudaStream_t stream) {
  check_cublas(cublas_api().create(&handle_), "cublasCreate");
  check_cublas(cublas_api().set_stream(handle_, stream), "cublasSetStream");
}

CublasHandle::~CublasHandle() {
  if (handle_ != nullptr) cublas_api().destroy(handle_);
}

cudaDataType_t cuda_data_type(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return CUDA_R_16F;
    case DType::kBF16:
      return CUDA_R_16BF;
    case DType::kF32:
    default:
      return CUDA_R_32F;
  }
}

template <typename T, typename Out>
void linear(const CublasHandle& cublas, const T* x, int64_t x_stride, const T* weight, int64_t rows,
            int64_t in_features, int64_t out_features, Out* out, int64_t out_stride, float beta) {
  static_assert(std::is_same_v<Out, T> || std::is_same_v<Out, float>, "out is T or float");
  check_invariant(rows >= 0 && in_features > 0 && out_features > 0 && x_stride >= in_features &&
                      out_stride >= out_features,
                  "linear: shape mismatch");
  check_invariant(rows < INT_MAX && in_features < INT_MAX && out_features < INT_MAX &&
                      x_stride < INT_MAX && out_stride < INT_MAX,
                  "linear: sizes past cuBLAS's 32-bit dimensions");
  if (rows == 0) return;
  // Row-major [r][c] is column-major [c][r]: out^T (out_features x rows) = W (x^T), with W
  // read as the transpose of the column-major [in][out] matrix the row-major weight is.
  const float alpha = 1.0f;
  const cudaDataType_t in_type = cuda_data_type(dtype_of<T>());
  const cudaDataType_t out_type = cuda_data_type(dtype_of<Out>());
  check_cublas(
      cublas_api().gemm_ex(cublas.get(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out_features),
                           static_cast<int>(rows), static_cast<int>(in_features), &alpha, weight,
                           in_type, static_cast<int>(in_features), x, in_type,
                           static_cast<int>(x_stride), &beta, out, out_type,
                           static_cast<int>(out_stride), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "linear: cublasGemmEx (" + std::to_string(rows) + " x " + std::to_string(in_features) +
          " -> " + std::to_string(out_features) + ", " + dtype_name(dtype_of<T>()) + ")");
}

template void linear<float, float>(const CublasHandle&, const float*, int64_t, const float*,
                                   int64_t, int64_t, int64_t, float*, int64_t, float);
template void linear<__half, __half>(const CublasHandle&, const __half*, int64_t, const __half*,
                                     int64_t, int64_t, int64_t, __half*, int64_t, float);
template void linear<__half, float>(const CublasHandle&, const __half*, int64_t, const __half*,
                                    int64_t, int64_t, int64_t, float*, int64_t, float);
template void linear<__nv_bfloat16, __nv_bfloat16>(const CublasHandle&, const __nv_bfloat16*,
                                                   int64_t, const __nv_bfloat16*, int64_t, int64_t,
                                                   int64_t, __nv_bfloat16*, int64_t, float);
template void linear<__nv_bfloat16, float>(const CublasHandle&, const __nv_bfloat16*, int64_t,
                                           const __nv_bfloat16*, int64_t, int64_t, int64_t, float*,
                                           int64_t, float);

}  // namespace kvlab::cuda
