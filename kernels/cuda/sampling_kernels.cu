// The sampling kernel: a block of 256 threads per draw, running sampling_row.h's sample_row with
// the block as its team. Collectives are warp shuffles (xor trees and shfl_up scans, fixed
// order) plus per-warp partials summed in warp order, so every result is deterministic.
#include <cstdint>

#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/sampling_kernels.h"
#include "kernels/cuda/sampling_row.h"

namespace kvlab::cuda {

namespace {

using device::kWarpSize;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / kWarpSize;
constexpr size_t kBinBytes = sizeof(double) * sampling::kBins * kThreads;

template <typename T>
__device__ __forceinline__ T shfl_xor(T x, int offset) {
  return __shfl_xor_sync(0xffffffffu, x, offset);
}

// The block's shared scratch for its collectives.
struct TeamScratch {
  double d[kWarps];
  uint32_t u[kWarps];
  int32_t i[kWarps];
  double totals[sampling::kBins];
};

// sampling_row.h's team: the thread block.
class BlockTeam {
 public:
  __device__ BlockTeam(TeamScratch* scratch, double* bins, uint32_t* marks)
      : d_(scratch->d),
        u_(scratch->u),
        i_(scratch->i),
        totals_(scratch->totals),
        bins_(bins),
        marks_(marks) {}

  __device__ int32_t rank() const { return static_cast<int32_t>(threadIdx.x); }
  __device__ int32_t size() const { return kThreads; }
  __device__ void sync() const { __syncthreads(); }

  __device__ double sum(double x) {
#pragma unroll
    for (int o = kWarpSize / 2; o > 0; o /= 2) x += shfl_xor(x, o);
    if (lane() == 0) d_[warp()] = x;
    __syncthreads();
    double total = 0.0;
    for (int w = 0; w < kWarps; ++w) total += d_[w];
    __syncthreads();
    return total;
  }

  __device__ uint32_t max(uint32_t x) {
#pragma unroll
    for (int o = kWarpSize / 2; o > 0; o /= 2) x = ::max(x, shfl_xor(x, o));
    if (lane() == 0) u_[warp()] = x;
    __syncthreads();
    uint32_t best = 0;
    for (int w = 0; w < kWarps; ++w) best = ::max(best, u_[w]);
    __syncthreads();
    return best;
  }

  __device__ int32_t min(int32_t x) {
#pragma unroll
    for (int o = kWarpSize / 2; o > 0; o /= 2) x = ::min(x, shfl_xor(x, o));
    if (lane() == 0) i_[warp()] = x;
    __syncthreads();
    int32_t best = x;
    for (int w = 0; w < kWarps; ++w) best = ::min(best, i_[w]);
    __syncthreads();
    return best;
  }

  __device__ int32_t exclusive_scan(int32_t x, int32_t* total) { return scan(x, total, i_); }
  __device__ double exclusive_scan(double x, double* total) { return scan(x, total, d_); }

  __device__ double& bin(int32_t d) { return bins_[d * kThreads + threadIdx.x]; }

  // Bin b's partials summed by warp b % kWarps: lanes in a fixed stride, then an xor tree.
  __device__ const double* reduce_bins() {
    __syncthreads();
    for (int b = warp(); b < sampling::kBins; b += kWarps) {
      double s = 0.0;
      for (int t = lane(); t < kThreads; t += kWarpSize) s += bins_[b * kThreads + t];
#pragma unroll
      for (int o = kWarpSize / 2; o > 0; o /= 2) s += shfl_xor(s, o);
      if (lane() == 0) totals_[b] = s;
    }
    __syncthreads();
    return totals_;
  }

  __device__ uint32_t* marks() { return marks_; }
  __device__ void mark(uint32_t* words, int32_t bit) {
    atomicOr(&words[bit >> 5], 1u << (bit & 31));
  }

 private:
  __device__ static int lane() { return static_cast<int>(threadIdx.x) % kWarpSize; }
  __device__ static int warp() { return static_cast<int>(threadIdx.x) / kWarpSize; }

  // Exclusive prefix over ranks: shfl_up inclusive scan in the warp, warp totals added in order.
  template <typename T>
  __device__ T scan(T x, T* total, T* scratch) {
    T inclusive = x;
#pragma unroll
    for (int o = 1; o < kWarpSize; o *= 2) {
      const T y = __shfl_up_sync(0xffffffffu, inclusive, o);
      if (lane() >= o) inclusive += y;
    }
    T exclusive = __shfl_up_sync(0xffffffffu, inclusive, 1);
    if (lane() == 0) exclusive = T(0);
    if (lane() == kWarpSize - 1) scratch[warp()] = inclusive;
    __syncthreads();
    T before = T(0), all = T(0);
    for (int w = 0; w < kWarps; ++w) {
      if (w == warp()) before = all;
      all += scratch[w];
    }
    __syncthreads();
    *total = all;
    return before + exclusive;
  }

  double* d_;
  uint32_t* u_;
  int32_t* i_;
  double* totals_;
  double* bins_;
  uint32_t* marks_;
};

// (kThreads, 1): without the minimum-blocks hint ptxas capped the kernel at 64 registers and
// spilled.
__global__ void __launch_bounds__(kThreads, 1)
    sample_kernel(const float* logits, int64_t stride, int32_t vocab,
                  const sampling::RowSpec* specs, const int32_t* history, int32_t* out) {
  extern __shared__ double shared[];  // bins, then the token bitmask
  __shared__ TeamScratch scratch;
  const sampling::RowSpec spec = specs[blockIdx.x];
  BlockTeam team(&scratch, shared,
                 reinterpret_cast<uint32_t*>(shared + sampling::kBins * kThreads));
  const int32_t token =
      sampling::sample_row(team, logits + spec.row * stride, vocab, spec, history);
  if (threadIdx.x == 0) out[blockIdx.x] = token;
}

}  // namespace

cudaError_t launch_sample(const float* logits, int64_t stride, int32_t vocab,
                          const sampling::RowSpec* specs, int32_t count, const int32_t* history,
                          bool any_penalty, int32_t* out, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const size_t mark_bytes = any_penalty ? sizeof(uint32_t) * ((vocab + 31) / 32) : 0;
  const size_t bytes = kBinBytes + (mark_bytes + 7) / 8 * 8;
  if (bytes > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(
        sample_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
    if (e != cudaSuccess) return e;
  }
  sample_kernel<<<static_cast<unsigned>(count), kThreads, bytes, stream>>>(logits, stride, vocab,
                                                                           specs, history, out);
  return cudaGetLastError();
}

}  // namespace kvlab::cuda
