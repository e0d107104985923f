// KVLAB_CUDA_HD: marks small pure functions that kernels call and host code (and host tests,
// built by the plain C++ compiler) calls too. Under nvcc they are __host__ __device__
// __forceinline__; under g++ / clang plain inline functions. KVLAB_CUDA_HD_FN: the same
// without forcing inlining (larger function templates).
#pragma once

#if defined(__CUDACC__)
#define KVLAB_CUDA_HD __host__ __device__ __forceinline__
#define KVLAB_CUDA_HD_FN __host__ __device__
#else
#define KVLAB_CUDA_HD inline
#define KVLAB_CUDA_HD_FN
#endif
