// The few cuBLAS entry points kvlab calls, resolved from libcublas.so.<major> with dlopen the
// first time a GEMM needs them.
//
// Why not link cuBLAS: every binary links kvlab_all, which carries this library whole, so a
// linked cuBLAS (with cuBLASLt, 700 MB of shared objects) would be mapped and relocated at
// the start of every process: ~130 ms each, measured, for each of the ~600 test processes
// ctest starts, GPU or not. The CUDA runtime itself costs ~2 ms and stays linked.
//
// Lookup order: the dynamic loader's (LD_LIBRARY_PATH, the binary's RUNPATH, ld.so.cache),
// then the toolkit this was built against (KVLAB_CUBLAS_LIBRARY). Thread-safe.
#pragma once

#include <cublas_v2.h>

namespace kvlab::cuda {

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t*);
  cublasStatus_t (*destroy)(cublasHandle_t);
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const void*, const void*, cudaDataType, int, const void*, cudaDataType,
                            int, const void*, void*, cudaDataType, int, cublasComputeType_t,
                            cublasGemmAlgo_t);
  const char* (*status_name)(cublasStatus_t);
  const char* (*status_string)(cublasStatus_t);
};

// Loads cuBLAS on first use. Throws CudaError naming the library and dlerror() when it or a
// symbol is missing.
const CublasApi& cublas_api();

}  // namespace kvlab::cuda
