#include <cstdint>
#include <type_traits>

#include "kernels/cuda/cache_kernels.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/kv_quant_math.h"

namespace kvlab::cuda {

namespace {

constexpr int kThreads = 256;

// One block per row: its num_kv_heads * head_dim elements of K and of V, to the row's slot.
template <typename T>
__global__ void __launch_bounds__(kThreads) write_kv_kernel(const WriteKvArgs<T> a) {
  const int64_t row = blockIdx.x;
  const int64_t slot = a.slot_mapping[row];
  if (slot < 0) return;
  const int head_dim = a.arena.head_dim;
  const int width = a.arena.num_kv_heads * head_dim;
  const T* k = a.k + row * a.k_stride;
  const T* v = a.v + row * a.v_stride;
  for (int e = threadIdx.x; e < width; e += kThreads) {
    const int head = e / head_dim;
    const int d = e % head_dim;
    a.arena.k_at(slot, head)[d] = k[e];
    a.arena.v_at(slot, head)[d] = v[e];
  }
}

template <typename Code>
__device__ __forceinline__ Code encode(float y);
template <>
__device__ __forceinline__ Fp8E4m3Code encode<Fp8E4m3Code>(float y) {
  return Fp8E4m3Code{kv_quant::fp8_e4m3_encode(y)};
}
template <>
__device__ __forceinline__ Int8Code encode<Int8Code>(float y) {
  return Int8Code{kv_quant::int8_encode(y)};
}

template <typename Code>
constexpr float kCodeMax =
    std::is_same_v<Code, Fp8E4m3Code> ? kv_quant::kFp8E4m3Max : kv_quant::kInt8Max;

// The calling warp quantizes x[0, head_dim) into out and *scale, as cpu::quantize_kv: the
// largest magnitude (NaN if any element is NaN; max is exact in any order, so the warp's
// reduction equals the CPU's loop), the scale, then each code of x / s.
template <typename T, typename Code>
__device__ __forceinline__ void quantize_vector(const T* x, int head_dim, int lane, Code* out,
                                                float* scale) {
  float amax = 0.0f;
  bool nan = false;
  for (int d = lane; d < head_dim; d += device::kWarpSize) {
    const float a = fabsf(device::to_float(x[d]));
    nan = nan || kv_quant::is_nan(a);
    amax = fmaxf(amax, a);
  }
  nan = __any_sync(0xffffffffu, nan) != 0;
  amax = device::warp_max(amax);
  const float s = kv_quant::vector_scale(nan ? kv_quant::float_of_bits(0x7FC00000u) : amax,
                                         kCodeMax<Code>);
  if (lane == 0) *scale = s;
  const bool codes = kv_quant::scale_stores_codes(s);
  for (int d = lane; d < head_dim; d += device::kWarpSize) {
    out[d] = codes ? encode<Code>(device::to_float(x[d]) / s) : Code{0};
  }
}

constexpr int kWarpsPerBlock = kThreads / device::kWarpSize;

// One warp per (row, KV head): its K vector, then its V vector.
template <typename T, typename Code>
__global__ void __launch_bounds__(kThreads) write_scaled_kv_kernel(const WriteScaledKvArgs<T, Code> a) {
  const int lane = threadIdx.x % device::kWarpSize;
  const int64_t vector = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock +
                         threadIdx.x / device::kWarpSize;
  const int heads = a.arena.num_kv_heads;
  if (vector >= a.num_rows * heads) return;  // the whole warp
  const int64_t row = vector / heads;
  const int head = static_cast<int>(vector % heads);
  const int64_t slot = a.slot_mapping[row];
  if (slot < 0) return;
  const int head_dim = a.arena.head_dim;
  const int64_t col = static_cast<int64_t>(head) * head_dim;
  quantize_vector<T, Code>(a.k + row * a.k_stride + col, head_dim, lane, a.arena.k_at(slot, head),
                           a.arena.k_scale_at(slot, head));
  quantize_vector<T, Code>(a.v + row * a.v_stride + col, head_dim, lane, a.arena.v_at(slot, head),
                           a.arena.v_scale_at(slot, head));
}

// grid: (copy, layer * 2 + tensor, chunk); each block moves every gridDim.z-th group of
// kThreads words of its copy's range. Word: 16, 4 or 1 bytes, as alignment allows.
template <typename Word>
__global__ void __launch_bounds__(kThreads) copy_slots_kernel(const CopySlotsArgs a) {
  const SlotCopy c = a.copies[blockIdx.x];
  const int layer = static_cast<int>(blockIdx.y / 2);
  char* base = static_cast<char*>(blockIdx.y % 2 == 0 ? a.k_base : a.v_base) +
               static_cast<int64_t>(layer) * a.layer_bytes;
  const Word* src = reinterpret_cast<const Word*>(base + c.src_slot * a.slot_bytes);
  Word* dst = reinterpret_cast<Word*>(base + c.dst_slot * a.slot_bytes);
  const int64_t words = c.num_slots * a.slot_bytes / static_cast<int64_t>(sizeof(Word));
  const int64_t stride = static_cast<int64_t>(gridDim.z) * kThreads;
  for (int64_t w = static_cast<int64_t>(blockIdx.z) * kThreads + threadIdx.x; w < words;
       w += stride) {
    dst[w] = src[w];
  }
}

template <typename Word>
cudaError_t launch_copy(const CopySlotsArgs& a, cudaStream_t stream) {
  const int64_t words = a.max_copy_slots * a.slot_bytes / static_cast<int64_t>(sizeof(Word));
  // Enough blocks per copy to keep a few words per thread, at most 64.
  int64_t chunks = (words + 4 * kThreads - 1) / (4 * kThreads);
  chunks = chunks < 1 ? 1 : (chunks > 64 ? 64 : chunks);
  const dim3 grid(static_cast<unsigned>(a.num_copies), static_cast<unsigned>(2 * a.num_layers),
                  static_cast<unsigned>(chunks));
  copy_slots_kernel<Word><<<grid, kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

// True when every address the copy touches is a multiple of `unit`.
bool word_aligned(const CopySlotsArgs& a, int64_t unit) {
  const auto u = static_cast<uintptr_t>(unit);
  return reinterpret_cast<uintptr_t>(a.k_base) % u == 0 &&
         reinterpret_cast<uintptr_t>(a.v_base) % u == 0 && a.layer_bytes % unit == 0 &&
         a.slot_bytes % unit == 0;
}

}  // namespace

template <typename T>
cudaError_t launch_write_kv(const WriteKvArgs<T>& a, cudaStream_t stream) {
  if (a.num_rows == 0) return cudaSuccess;
  write_kv_kernel<T><<<static_cast<unsigned>(a.num_rows), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

template cudaError_t launch_write_kv<float>(const WriteKvArgs<float>&, cudaStream_t);
template cudaError_t launch_write_kv<__half>(const WriteKvArgs<__half>&, cudaStream_t);
template cudaError_t launch_write_kv<__nv_bfloat16>(const WriteKvArgs<__nv_bfloat16>&,
                                                    cudaStream_t);

template <typename T, typename Code>
cudaError_t launch_write_scaled_kv(const WriteScaledKvArgs<T, Code>& a, cudaStream_t stream) {
  const int64_t vectors = a.num_rows * a.arena.num_kv_heads;
  if (vectors == 0) return cudaSuccess;
  const int64_t blocks = (vectors + kWarpsPerBlock - 1) / kWarpsPerBlock;
  write_scaled_kv_kernel<T, Code><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

#define KVLAB_INSTANTIATE_WRITE_SCALED(T)                                                 \
  template cudaError_t launch_write_scaled_kv<T, Fp8E4m3Code>(                           \
      const WriteScaledKvArgs<T, Fp8E4m3Code>&, cudaStream_t);                           \
  template cudaError_t launch_write_scaled_kv<T, Int8Code>(const WriteScaledKvArgs<T, Int8Code>&, \
                                                           cudaStream_t);
KVLAB_INSTANTIATE_WRITE_SCALED(float)
KVLAB_INSTANTIATE_WRITE_SCALED(__half)
KVLAB_INSTANTIATE_WRITE_SCALED(__nv_bfloat16)

cudaError_t launch_copy_slots(const CopySlotsArgs& a, cudaStream_t stream) {
  if (a.num_copies == 0 || a.num_layers == 0 || a.max_copy_slots == 0) return cudaSuccess;
  if (word_aligned(a, 16)) return launch_copy<uint4>(a, stream);
  if (word_aligned(a, 4)) return launch_copy<uint32_t>(a, stream);
  return launch_copy<unsigned char>(a, stream);
}

}  // namespace kvlab::cuda
