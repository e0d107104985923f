// KVLAB_CUDA_HD: marks small pure functions that kernels call and host code (and host tests,
// built by the plain C++ compiler) calls too. Under nvcc they are __host__ __device__; under
// g++ / clang plain inline functions.
#pragma once

#if defined(__CUDACC__)
#define KVLAB_CUDA_HD __host__ __device__ __forceinline__
#else
#define KVLAB_CUDA_HD inline
#endif
