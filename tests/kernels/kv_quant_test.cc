// The quantized KV cache's formats (kernels/cpu/kv_quant.h): FP8 E4M3 conversion against known
// codes (saturation, round to nearest even, subnormals, NaN), the error bound of each dtype,
// attention over a quantized cache against the fp32 cache, and copies and swaps carrying the
// scales with their slots.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/errors.h"
#include "core/model_spec.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cache_write.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/cpu/kv_copy.h"
#include "kernels/cpu/kv_quant.h"
#include "tests/kernels/kernel_test_util.h"

namespace kvlab::cpu {
namespace {

using testing::random_matrix;

TEST(Fp8E4m3, KnownCodes) {
  EXPECT_EQ(fp8_e4m3_from_float(0.0f), 0x00);
  EXPECT_EQ(fp8_e4m3_from_float(-0.0f), 0x80);
  EXPECT_EQ(fp8_e4m3_from_float(1.0f), 0x38);
  EXPECT_EQ(fp8_e4m3_from_float(-1.0f), 0xB8);
  EXPECT_EQ(fp8_e4m3_from_float(2.0f), 0x40);
  EXPECT_EQ(fp8_e4m3_from_float(0.5f), 0x30);
  EXPECT_EQ(fp8_e4m3_from_float(1.75f), 0x3E);
  EXPECT_EQ(fp8_e4m3_from_float(448.0f), 0x7E);
  EXPECT_EQ(fp8_e4m3_from_float(-448.0f), 0xFE);
  EXPECT_EQ(fp8_e4m3_from_float(0x1p-6f), 0x08);  // smallest normal
  EXPECT_EQ(fp8_e4m3_from_float(0x1p-9f), 0x01);  // smallest subnormal
  EXPECT_EQ(fp8_e4m3_from_float(7 * 0x1p-9f), 0x07);  // largest subnormal
  EXPECT_EQ(fp8_e4m3_from_float(240.0f), 0x77);
  EXPECT_FLOAT_EQ(fp8_e4m3_to_float(0x7E), 448.0f);
  EXPECT_FLOAT_EQ(fp8_e4m3_to_float(0x38), 1.0f);
  EXPECT_FLOAT_EQ(fp8_e4m3_to_float(0x01), 0x1p-9f);
  EXPECT_FLOAT_EQ(fp8_e4m3_to_float(0x0F), 1.875f * 0x1p-6f);
  EXPECT_FLOAT_EQ(fp8_e4m3_to_float(0xC4), -3.0f);
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_float(0xFF)));
}

TEST(Fp8E4m3, RoundsToNearestEven) {
  EXPECT_EQ(fp8_e4m3_from_float(1.0625f), 0x38);  // halfway 1 and 1.125: to 1 (even)
  EXPECT_EQ(fp8_e4m3_from_float(1.1875f), 0x3A);  // halfway 1.125 and 1.25: to 1.25 (even)
  EXPECT_EQ(fp8_e4m3_from_float(1.07f), 0x39);    // past halfway: up
  EXPECT_EQ(fp8_e4m3_from_float(1.9375f), 0x40);  // halfway 1.875 and 2: to 2 (carries)
  EXPECT_EQ(fp8_e4m3_from_float(0x1p-10f), 0x00);      // halfway 0 and 2^-9: to 0
  EXPECT_EQ(fp8_e4m3_from_float(3 * 0x1p-10f), 0x02);  // halfway 2^-9 and 2^-8: to 2^-8
  EXPECT_EQ(fp8_e4m3_from_float(15 * 0x1p-10f), 0x08); // halfway 7 x 2^-9 and 2^-6: up
  EXPECT_EQ(fp8_e4m3_from_float(432.0f), 0x7E);        // halfway 416 and 448: to 448 (even)
  EXPECT_EQ(fp8_e4m3_from_float(424.0f), 0x7D);        // nearer 416
}

TEST(Fp8E4m3, SaturatesAndKeepsNaN) {
  EXPECT_EQ(fp8_e4m3_from_float(449.0f), 0x7E);
  EXPECT_EQ(fp8_e4m3_from_float(1e6f), 0x7E);
  EXPECT_EQ(fp8_e4m3_from_float(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(fp8_e4m3_from_float(-std::numeric_limits<float>::infinity()), 0xFE);
  EXPECT_EQ(fp8_e4m3_from_float(std::numeric_limits<float>::quiet_NaN()) & 0x7F, 0x7F);
  EXPECT_EQ(fp8_e4m3_from_float(1e-30f), 0x00);
}

TEST(Fp8E4m3, EveryFiniteCodeRoundTrips) {
  for (int code = 0; code < 256; ++code) {
    if ((code & 0x7F) == 0x7F) continue;
    const float value = fp8_e4m3_to_float(static_cast<uint8_t>(code));
    EXPECT_EQ(fp8_e4m3_from_float(value), code) << code << " = " << value;
  }
}

// The encoder (kernels/kv_quant_math.h, shared with the cuda kernels) against a reference
// written another way: the nearest of the 254 finite codes' values by exhaustive search, ties
// to the even code, beyond 448 saturating; over every midpoint between adjacent codes, the
// floats next to each midpoint, and 200,000 random magnitudes across the whole range.
uint8_t nearest_code(float x) {
  const float a = std::fabs(x);
  uint8_t best = 0;
  double best_err = std::numeric_limits<double>::infinity();
  for (int code = 0; code <= 0x7E; ++code) {
    const double err = std::fabs(double{a} - double{fp8_e4m3_to_float(static_cast<uint8_t>(code))});
    if (err < best_err || (err == best_err && code % 2 == 0)) {
      best = static_cast<uint8_t>(code);
      best_err = err;
    }
  }
  return static_cast<uint8_t>((std::signbit(x) ? 0x80 : 0) | best);
}

TEST(Fp8E4m3, EncoderEqualsTheNearestCodeWithTiesToEven) {
  std::vector<float> inputs;
  for (int code = 0; code < 0x7E; ++code) {
    const float lo = fp8_e4m3_to_float(static_cast<uint8_t>(code));
    const float hi = fp8_e4m3_to_float(static_cast<uint8_t>(code + 1));
    const float mid = (lo + hi) / 2;  // exact: adjacent codes differ in their last bits only
    for (const float x : {lo, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
      inputs.push_back(x);
      inputs.push_back(-x);
    }
  }
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<float> log2(-14.0f, 9.5f);
  for (int i = 0; i < 200000; ++i) {
    const float x = std::exp2(log2(rng));
    inputs.push_back(i % 2 ? x : -x);
  }
  for (const float x : inputs) {
    ASSERT_EQ(fp8_e4m3_from_float(x), nearest_code(std::fmin(std::fabs(x), kFp8E4m3Max) *
                                                   (std::signbit(x) ? -1.0f : 1.0f)))
        << x;
  }
}

// Each dtype's worst error on a vector, against its documented bound.
TEST(QuantizeKv, ErrorWithinEachDtypesBound) {
  std::mt19937_64 rng(3);
  const int32_t n = 128;
  const RowMatrix x = random_matrix(64, n, rng, 3.0f);
  struct Case {
    KvDtype dtype;
    int32_t bytes;
    double relative_to_amax;  // bound on |error| / amax of the vector
  };
  const Case cases[] = {{KvDtype::kFp32, 4, 0.0},
                        {KvDtype::kFp16, 2, 0x1p-11},
                        {KvDtype::kBf16, 2, 0x1p-8},
                        {KvDtype::kFp8E4m3, 1, 0x1p-4},
                        {KvDtype::kInt8, 1, 0.5 / 127.0 + 1e-7}};
  for (const Case& c : cases) {
    SCOPED_TRACE(kv_dtype_name(c.dtype));
    std::vector<std::byte> stored(static_cast<size_t>(n * c.bytes));
    std::vector<float> back(static_cast<size_t>(n));
    double worst = 0;
    for (Eigen::Index r = 0; r < x.rows(); ++r) {
      float scale = -1;
      quantize_kv(c.dtype, x.row(r).data(), n, stored.data(), &scale);
      dequantize_kv(c.dtype, stored.data(), &scale, n, back.data());
      const double amax = x.row(r).cwiseAbs().maxCoeff();
      for (int32_t i = 0; i < n; ++i) {
        worst = std::max(worst, std::fabs(back[static_cast<size_t>(i)] - x(r, i)) / amax);
      }
      if (kv_dtype_scaled(c.dtype)) {
        EXPECT_FLOAT_EQ(scale, static_cast<float>(amax) /
                                   (c.dtype == KvDtype::kInt8 ? 127.0f : kFp8E4m3Max));
      }
    }
    EXPECT_LE(worst, c.relative_to_amax);
    if (c.dtype != KvDtype::kFp32) {
      EXPECT_GT(worst, 0) << "no rounding at all?";
    }
  }
}

TEST(QuantizeKv, ZerosStayZeroAndNaNShows) {
  const std::vector<float> zeros(16, 0.0f);
  std::vector<float> nan_in(16, 1.0f);
  nan_in[5] = std::numeric_limits<float>::quiet_NaN();
  for (KvDtype d : {KvDtype::kFp8E4m3, KvDtype::kInt8}) {
    std::vector<std::byte> q(16);
    std::vector<float> back(16, 7.0f);
    float s = -1;
    quantize_kv(d, zeros.data(), 16, q.data(), &s);
    dequantize_kv(d, q.data(), &s, 16, back.data());
    for (float b : back) EXPECT_EQ(b, 0.0f);
    quantize_kv(d, nan_in.data(), 16, q.data(), &s);
    dequantize_kv(d, q.data(), &s, 16, back.data());
    EXPECT_TRUE(std::isnan(back[0]));
  }
}

constexpr int kLayers = 2, kKvHeads = 2, kHeadDim = 16, kHeads = 4;

TEST(QuantizedCache, BytesPerSlotMatchTheModelSpecsAndScalesExistOnlyWhenScaled) {
  for (const std::string& name : kv_dtype_names()) {
    SCOPED_TRACE(name);
    ModelSpec spec;
    spec.num_layers = kLayers;
    spec.num_kv_heads = kKvHeads;
    spec.head_dim = kHeadDim;
    spec.dtype_bytes = 4;  // auto on the cpu back end stores fp32
    spec.kv_dtype = parse_kv_dtype(name);
    const CpuKvCache cache(kLayers, 32, kKvHeads, kHeadDim, spec.kv_dtype);
    EXPECT_EQ(cache.bytes_per_slot(), spec.kv_bytes_per_slot());
    EXPECT_EQ(cache.store(0).k_scale != nullptr, kv_dtype_scaled(spec.kv_dtype));
  }
  EXPECT_THROW(CpuKvCache(1, 4, 1, 4, KvDtype::kInt8).layer(0), InvariantError)
      << "an fp32 view of an int8 cache";
}

// Attention over each quantized cache stays near the fp32 cache's, within a bound that grows
// with the dtype's rounding; fp32 storage through the store is the fp32 arena exactly.
TEST(QuantizedCache, AttentionNearTheFp32Cache) {
  std::mt19937_64 rng(5);
  const int64_t slots = 128;
  auto alloc = testing::LayoutAllocator::paged(8, slots, /*shuffle=*/true);
  const int32_t context = 40;
  const KvLayout layout = alloc.allocate(context);
  const RowMatrix k = random_matrix(context, kKvHeads * kHeadDim, rng);
  const RowMatrix v = random_matrix(context, kKvHeads * kHeadDim, rng);
  const RowMatrix q = random_matrix(context, kHeads * kHeadDim, rng);
  std::vector<int64_t> slot_mapping;
  append_slot_mapping(layout, 0, context, slot_mapping);
  const KvBatchTables tables = KvBatchTables::build({layout}, {context}, slots);
  const std::vector<int32_t> indptr = {0, context};

  auto run = [&](KvDtype dtype) {
    CpuKvCache cache(1, slots, kKvHeads, kHeadDim, dtype);
    cache.fill(std::numeric_limits<float>::quiet_NaN());  // unused slots are never read
    write_kv(k, v, slot_mapping, cache.store(0));
    RowMatrix out(context, kHeads * kHeadDim);
    prefill_attention(q, indptr, tables.view(), cache.store(0), kHeads, out);
    RowMatrix dec(1, kHeads * kHeadDim);
    decode_attention(q.bottomRows(1), tables.view(), cache.store(0), kHeads, dec);
    EXPECT_LE((dec - out.bottomRows(1)).cwiseAbs().maxCoeff(), 1e-5)
        << "decode reads the same cache as the prefill's last query";
    return out;
  };
  const RowMatrix ref = run(KvDtype::kFp32);
  {
    CpuKvCache cache(1, slots, kKvHeads, kHeadDim);
    write_kv(k, v, slot_mapping, cache.layer(0));
    RowMatrix out(context, kHeads * kHeadDim);
    prefill_attention(q, indptr, tables.view(), cache.layer(0), kHeads, out);
    EXPECT_EQ(out, ref) << "an fp32 store is the fp32 arena";
  }
  const std::pair<KvDtype, double> bounds[] = {{KvDtype::kFp16, 2e-3},
                                               {KvDtype::kBf16, 2e-2},
                                               {KvDtype::kFp8E4m3, 1e-1},
                                               {KvDtype::kInt8, 2e-2}};
  for (const auto& [dtype, bound] : bounds) {
    SCOPED_TRACE(kv_dtype_name(dtype));
    const double err = (run(dtype) - ref).cwiseAbs().maxCoeff();
    EXPECT_LE(err, bound);
    EXPECT_GT(err, 0);
  }
}

// Copies within a cache and swaps to a host cache and back carry the scales with their slots:
// every slot reads back exactly what was written to its source.
TEST(QuantizedCache, CopiesAndSwapsMoveScalesWithTheirSlots) {
  for (KvDtype dtype : {KvDtype::kFp16, KvDtype::kFp8E4m3, KvDtype::kInt8}) {
    SCOPED_TRACE(kv_dtype_name(dtype));
    std::mt19937_64 rng(9);
    CpuKvCache device(kLayers, 64, kKvHeads, kHeadDim, dtype);
    CpuKvCache host(kLayers, 32, kKvHeads, kHeadDim, dtype);
    std::vector<int64_t> slots(64);
    for (int64_t s = 0; s < 64; ++s) slots[static_cast<size_t>(s)] = s;
    for (int32_t l = 0; l < kLayers; ++l) {
      // Rows of very different magnitudes, so a scale left behind would show.
      RowMatrix k = random_matrix(64, kKvHeads * kHeadDim, rng);
      RowMatrix v = random_matrix(64, kKvHeads * kHeadDim, rng);
      for (Eigen::Index r = 0; r < 64; ++r) {
        k.row(r) *= static_cast<float>(1 + r);
        v.row(r) /= static_cast<float>(1 + r);
      }
      write_kv(k, v, slots, device.store(l));
    }
    auto read = [](const CpuKvCache& c, int32_t layer, int64_t slot) {
      const KvLayerStore s = c.store(layer);
      std::vector<float> out(2 * kKvHeads * kHeadDim);
      for (int32_t h = 0; h < kKvHeads; ++h) {
        dequantize_kv(s.dtype, s.k_at(slot, h), s.k_scale_at(slot, h), kHeadDim,
                      out.data() + h * kHeadDim);
        dequantize_kv(s.dtype, s.v_at(slot, h), s.v_scale_at(slot, h), kHeadDim,
                      out.data() + (kKvHeads + h) * kHeadDim);
      }
      return out;
    };
    const CpuKvCache before = device;
    swap_out(device, host, std::vector<KvCopy>{{.src_slot = 8, .dst_slot = 20, .num_slots = 8}});
    copy_kv_within(device, std::vector<KvCopy>{{.src_slot = 0, .dst_slot = 48, .num_slots = 4}});
    swap_in(host, device, std::vector<KvCopy>{{.src_slot = 20, .dst_slot = 30, .num_slots = 8}});
    for (int32_t l = 0; l < kLayers; ++l) {
      for (int64_t i = 0; i < 8; ++i) {
        EXPECT_EQ(read(host, l, 20 + i), read(before, l, 8 + i));
        EXPECT_EQ(read(device, l, 30 + i), read(before, l, 8 + i));
      }
      for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(read(device, l, 48 + i), read(before, l, i));
      EXPECT_EQ(read(device, l, 5), read(before, l, 5)) << "an untouched slot";
    }
  }
}

TEST(QuantizedCache, CopyBetweenDtypesIsRefused) {
  const CpuKvCache a(1, 8, 1, 4, KvDtype::kInt8);
  CpuKvCache b(1, 8, 1, 4, KvDtype::kFp8E4m3);
  EXPECT_THROW(copy_kv(a, b, std::vector<KvCopy>{{.src_slot = 0, .dst_slot = 0, .num_slots = 1}}),
               InvariantError);
}

}  // namespace
}  // namespace kvlab::cpu
