// The CUDA back end's host-side logic, which runs (and is tested) without a GPU: the device
// KV view mirror, the step batch arrangement, copy-list analysis, the device dummy-weight
// rule (against a textbook SplitMix64), the rotary table, the decode algorithm choice, the
// kernels' softmax arithmetic (softmax_math.h, run as the kernels run it, against a full
// softmax in double), the split-K shared-memory bound, the host's fp16 / bf16 rounding
// (against a brute-force nearest representable value), the device-capacity arithmetic and
// probe, dtype parsing, cuBLAS loading and the executor's no-device error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "app/resolve_experiment.h"
#include "core/engine.h"
#include "core/errors.h"
#include "core/executor.h"
#include "core/experiment.h"
#include "kernels/cpu/rotary.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/cache_ops.h"
#include "kernels/cuda/cublas_api.h"
#include "kernels/cuda/decoder_model.h"
#include "kernels/cuda/device_capacity.h"
#include "kernels/cuda/device_kv_tables.h"
#include "kernels/cuda/dummy_weights.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/kv_cache.h"
#include "kernels/cuda/softmax_math.h"
#include "kernels/cuda/step_batch.h"
#include "kernels/model/weight_source.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/kernels/kernel_test_util.h"

namespace kvlab {
namespace {

using cuda::DeviceSeqView;
using testing::LayoutAllocator;

TEST(DeviceKvView, SlotOfMirrorsKvSeqView) {
  const std::vector<int32_t> contexts = {1, 15, 16, 17, 129, 300};
  for (int32_t block_size : {0, 1, 16, 128}) {
    SCOPED_TRACE("block_size " + std::to_string(block_size));
    LayoutAllocator alloc = block_size == 0 ? LayoutAllocator::contiguous(4096)
                                            : LayoutAllocator::paged(block_size, 4096, true);
    std::vector<KvLayout> layouts;
    for (int32_t len : contexts) layouts.push_back(alloc.allocate(len));
    const KvBatchTables tables = KvBatchTables::build(layouts, contexts, 4096);
    const KvSeqView view = tables.view();
    const DeviceSeqView mirror = cuda::to_device(view);
    EXPECT_EQ(mirror.paged, block_size != 0);
    EXPECT_EQ(mirror.num_seqs, static_cast<int32_t>(contexts.size()));
    for (int32_t s = 0; s < view.num_seqs; ++s) {
      for (int32_t t = 0; t < contexts[static_cast<size_t>(s)]; ++t) {
        ASSERT_EQ(mirror.slot_of(s, t), view.slot_of(s, t)) << "sequence " << s << " token " << t;
      }
    }
  }
}

ForwardEntry entry(std::vector<int32_t> tokens, int32_t start, KvLayout layout, bool samples) {
  ForwardEntry e;
  e.tokens = std::move(tokens);
  e.start = start;
  e.layout = std::move(layout);
  e.samples = samples;
  return e;
}

TEST(StepBatch, PrefillRowsFirstThenDecodesAndSampleRowsInBatchOrder) {
  LayoutAllocator alloc = LayoutAllocator::paged(4, 256, true);
  const KvLayout a = alloc.allocate(8), b = alloc.allocate(11), c = alloc.allocate(7),
                 d = alloc.allocate(3);
  const std::vector<ForwardEntry> batch = {
      entry({10, 11, 12, 13, 14}, 3, a, true),           // a prefill chunk at positions 3..7
      entry({20}, 10, b, true),                          // a decode at position 10
      entry({30, 31, 32, 33, 34, 35, 36}, 0, c, false),  // a prompt chunk that does not sample
      entry({40}, 2, d, true),                           // a decode at position 2
  };
  const cuda::StepBatch s = cuda::build_step_batch(batch, 64, 1024, 256);
  EXPECT_EQ(s.total_rows, 14);
  EXPECT_EQ(s.prefill_rows, 12);
  EXPECT_EQ(s.decode_rows(), 2);
  EXPECT_EQ(s.token_ids,
            (std::vector<int32_t>{10, 11, 12, 13, 14, 30, 31, 32, 33, 34, 35, 36, 20, 40}));
  EXPECT_EQ(s.positions, (std::vector<int32_t>{3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 10, 2}));
  EXPECT_EQ(s.query_indptr, (std::vector<int32_t>{0, 5, 12}));
  EXPECT_EQ(s.max_prefill_q_len, 7);
  EXPECT_EQ(s.sample_rows, (std::vector<int32_t>{4, 12, 13}));
  std::vector<int64_t> slots;
  for (int32_t t = 3; t < 8; ++t) slots.push_back(a.slot_of(t));
  for (int32_t t = 0; t < 7; ++t) slots.push_back(c.slot_of(t));
  slots.push_back(b.slot_of(10));
  slots.push_back(d.slot_of(2));
  EXPECT_EQ(s.slot_mapping, slots);
  ASSERT_TRUE(s.prefill_tables.has_value());
  ASSERT_TRUE(s.decode_tables.has_value());
  EXPECT_EQ(s.prefill_tables->context_lens(), (std::vector<int32_t>{8, 7}));
  EXPECT_EQ(s.decode_tables->context_lens(), (std::vector<int32_t>{11, 3}));
  EXPECT_EQ(s.max_decode_context(), 11);
}

TEST(StepBatch, RejectsBadTokensPositionsAndMixedLayouts) {
  LayoutAllocator paged = LayoutAllocator::paged(4, 256, false);
  LayoutAllocator contiguous = LayoutAllocator::contiguous(256);
  const KvLayout p = paged.allocate(16), c = contiguous.allocate(16);
  EXPECT_THROW(
      cuda::build_step_batch(std::vector<ForwardEntry>{entry({64}, 0, p, true)}, 64, 1024, 256),
      InputError);
  EXPECT_THROW(
      cuda::build_step_batch(std::vector<ForwardEntry>{entry({1, 2}, 7, p, true)}, 64, 8, 256),
      InvariantError);
  EXPECT_THROW(cuda::build_step_batch(
                   std::vector<ForwardEntry>{entry({1, 2}, 0, p, true), entry({3}, 4, c, true)}, 64,
                   1024, 256),
               InvariantError);
}

TEST(CopyLists, IndependenceAndMerging) {
  using V = std::vector<KvCopy>;
  EXPECT_TRUE(cuda::copies_independent(V{}));
  EXPECT_TRUE(cuda::copies_independent(V{{0, 10, 4}, {4, 20, 4}, {100, 30, 2}}));
  EXPECT_FALSE(cuda::copies_independent(V{{0, 10, 4}, {50, 12, 4}}));  // destinations overlap
  EXPECT_FALSE(cuda::copies_independent(V{{0, 10, 4}, {12, 40, 4}}));  // reads another's write
  EXPECT_FALSE(cuda::copies_independent(V{{12, 40, 4}, {0, 10, 4}}));  // in either order
  EXPECT_TRUE(cuda::copies_independent(V{{0, 10, 4}, {14, 40, 4}, {5, 0, 0}}));

  EXPECT_EQ(cuda::merge_adjacent(V{{0, 100, 4}, {4, 104, 4}, {8, 108, 2}, {20, 0, 1}}, false),
            (V{{0, 100, 10}, {20, 0, 1}}));
  EXPECT_EQ(cuda::merge_adjacent(V{{0, 100, 4}, {0, 0, 0}, {5, 104, 4}}, false),
            (V{{0, 100, 4}, {5, 104, 4}}));
  // Within one arena, 0->2 then 2->4 (n = 2) chains through slots 2..3: joined it would be a
  // self-overlapping 0->2 copy of 4 slots with another meaning. Kept apart.
  EXPECT_EQ(cuda::merge_adjacent(V{{0, 2, 2}, {2, 4, 2}}, true), (V{{0, 2, 2}, {2, 4, 2}}));
  EXPECT_EQ(cuda::merge_adjacent(V{{0, 8, 2}, {2, 10, 2}}, true), (V{{0, 8, 4}}));
}

// dummy_range follows DummyWeightSource's rule for every kind of tensor, OPT's included
// (position table like the token table, 1-D `.bias` centred on 0): the CPU's first element of
// each tensor is center + half_width * (2u - 1) with u its mt19937_64's first draw.
TEST(DummyWeights, RangesAreTheCpuSourcesForLlamaAndOptTensors) {
  const uint64_t seed = 99;
  struct Case {
    const char* name;
    std::vector<int64_t> shape;
    float center, half_width;
  };
  const std::vector<Case> cases = {
      {"model.decoder.embed_tokens.weight", {4, 64}, 0.0f, 1.0f},
      {"model.decoder.embed_positions.weight", {514, 64}, 0.0f, 1.0f},
      {"model.decoder.layers.0.self_attn.q_proj.bias", {64}, 0.0f, 0.1f},
      {"model.decoder.layers.1.fc1.bias", {256}, 0.0f, 0.1f},
      {"model.decoder.layers.0.self_attn_layer_norm.weight", {64}, 1.0f, 0.1f},
      {"model.decoder.layers.0.self_attn_layer_norm.bias", {64}, 0.0f, 0.1f},
      {"model.decoder.final_layer_norm.bias", {64}, 0.0f, 0.1f},
      {"model.decoder.layers.0.fc2.weight", {64, 256}, 0.0f,
       static_cast<float>(std::sqrt(3.0 / 256))},
      {"model.layers.0.input_layernorm.weight", {64}, 1.0f, 0.1f},
      {"model.embed_tokens.weight", {4, 64}, 0.0f, 1.0f},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const bool is_vector = c.shape.size() == 1;
    const cuda::DummyRange range = cuda::dummy_range(c.name, is_vector, c.shape.back());
    EXPECT_EQ(range.center, c.center);
    EXPECT_FLOAT_EQ(range.half_width, c.half_width);
    int64_t count = 1;
    for (int64_t d : c.shape) count *= d;
    std::vector<float> cpu_values(static_cast<size_t>(count));
    DummyWeightSource(seed).load(c.name, c.shape, cpu_values);
    std::mt19937_64 rng(cuda::dummy_tensor_seed(seed, c.name));
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    // The CPU computes in double from its own center and half width: equal to ours in float
    // when the ranges agree (half widths other than 1 and 0.1 are checked above in float).
    EXPECT_NEAR(cpu_values[0],
                static_cast<double>(range.center) +
                    static_cast<double>(range.half_width) * (2.0 * u - 1.0),
                1e-6);
  }
}

TEST(CudaModelFamilies, LlamaAndOptAreRunOthersRefusedNamingTheFamily) {
  ModelSpec llama;
  llama.name = "l";
  llama.family = "llama";
  llama.num_layers = 1;
  llama.hidden_size = 32;
  llama.num_heads = 2;
  llama.num_kv_heads = 2;
  llama.head_dim = 16;
  llama.ffn_size = 64;
  llama.vocab_size = 50;
  llama.max_seq_len = 64;
  llama.rope_theta = 10000.0;
  EXPECT_NO_THROW(cuda::validate_cuda_model_spec(llama));
  ModelSpec opt = llama;
  opt.family = "opt";
  EXPECT_NO_THROW(cuda::validate_cuda_model_spec(opt));
  opt.num_kv_heads = 1;  // OPT is multi-head
  EXPECT_THROW(cuda::validate_cuda_model_spec(opt), InputError);
  ModelSpec gpt = llama;
  gpt.name = "my-gpt";
  gpt.family = "gpt2";
  try {
    cuda::validate_cuda_model_spec(gpt);
    FAIL() << "family gpt2 accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    for (const char* part : {"model.family", "my-gpt", "gpt2", "llama", "opt"}) {
      EXPECT_NE(what.find(part), std::string::npos) << part << " in: " << what;
    }
  }
}

TEST(DummyWeights, TensorSeedIsTheCpuSourcesAndValuesFollowTheRule) {
  // DummyWeightSource draws element 0 of a tensor from mt19937_64(seed ^ FNV-1a(name)): the
  // same seed our rule uses, which pins dummy_tensor_seed to the CPU's hash.
  const uint64_t seed = 1234;
  const std::string name = "model.layers.0.mlp.down_proj.weight";
  const int64_t in = 48;
  std::vector<float> cpu_values(static_cast<size_t>(in));
  const int64_t shape[] = {1, in};
  DummyWeightSource(seed).load(name, shape, cpu_values);
  std::mt19937_64 rng(cuda::dummy_tensor_seed(seed, name));
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  const double a = std::sqrt(3.0 / in);
  EXPECT_EQ(cpu_values[0], static_cast<float>(a * (2.0 * u - 1.0)));

  const cuda::DummyRange matrix = cuda::dummy_range(name, false, in);
  EXPECT_FLOAT_EQ(matrix.half_width, static_cast<float>(a));
  EXPECT_EQ(matrix.center, 0.0f);
  const cuda::DummyRange embed = cuda::dummy_range("model.embed_tokens.weight", false, 4096);
  EXPECT_EQ(embed.center, 0.0f);
  EXPECT_EQ(embed.half_width, 1.0f);
  const cuda::DummyRange norm = cuda::dummy_range("model.norm.weight", true, 4096);
  EXPECT_EQ(norm.center, 1.0f);
  EXPECT_FLOAT_EQ(norm.half_width, 0.1f);

  // Uniform on [center - w, center + w): bounds, mean and variance over 200k draws.
  const uint64_t tensor_seed = cuda::dummy_tensor_seed(seed, name);
  const int n = 200000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    const float x = cuda::dummy_weight_value(tensor_seed, i, norm);
    ASSERT_GE(x, 0.9f);
    ASSERT_LT(x, 1.1f);
    sum += x;
    sum_sq += (x - 1.0) * (x - 1.0);
  }
  EXPECT_NEAR(sum / n, 1.0, 1e-3);
  EXPECT_NEAR(sum_sq / n, 0.01 / 3.0, 1e-4);
  EXPECT_EQ(cuda::dummy_weight_value(tensor_seed, 77, norm),
            cuda::dummy_weight_value(tensor_seed, 77, norm));
  EXPECT_NE(cuda::dummy_weight_value(tensor_seed, 77, norm),
            cuda::dummy_weight_value(tensor_seed, 78, norm));
}

TEST(RotaryTable, EqualsTheCpuRotationOfUnitVectors) {
  const int32_t head_dim = 16, half = 8, max_positions = 300;
  const double theta = 10000.0;
  const std::vector<float> table = cuda::RotaryTable::host_table(head_dim, max_positions, theta);
  ASSERT_EQ(table.size(), size_t{2} * max_positions * half);
  for (int32_t position : {0, 1, 17, 299}) {
    for (int32_t i = 0; i < half; ++i) {
      // The CPU op on e_i gives (cos, sin) of the angle at (position, i).
      cpu::RowMatrix x = cpu::RowMatrix::Zero(1, head_dim);
      x(0, i) = 1.0f;
      const int32_t positions[] = {position};
      cpu::apply_rotary(x, head_dim, positions, theta);
      const size_t at = static_cast<size_t>(position) * half + static_cast<size_t>(i);
      EXPECT_EQ(table[at], x(0, i)) << "cos at position " << position << ", pair " << i;
      EXPECT_EQ(table[static_cast<size_t>(max_positions) * half + at], x(0, i + half))
          << "sin at position " << position << ", pair " << i;
    }
  }
}

TEST(DecodeAlgorithm, VllmV1V2Rule) {
  using cuda::DecodeAlgorithm;
  EXPECT_EQ(cuda::choose_decode_algorithm(1, 32, 512, 512), DecodeAlgorithm::kOnePass);
  EXPECT_EQ(cuda::choose_decode_algorithm(1, 32, 513, 512), DecodeAlgorithm::kSplitK);
  EXPECT_EQ(cuda::choose_decode_algorithm(32, 32, 4096, 512), DecodeAlgorithm::kOnePass);
  EXPECT_EQ(cuda::choose_decode_algorithm(16, 32, 4096, 512), DecodeAlgorithm::kSplitK);
  EXPECT_EQ(cuda::choose_decode_algorithm(256, 32, 8193, 512), DecodeAlgorithm::kSplitK);
  EXPECT_EQ(cuda::decode_workspace_bytes(2, 4, 128, 512, 512), 0);
  EXPECT_EQ(cuda::decode_workspace_bytes(2, 4, 128, 1025, 512), int64_t{2} * 4 * 3 * 130 * 4);
}

TEST(DType, ParsesBackendDtypeValues) {
  EXPECT_EQ(cuda::parse_dtype("fp32"), cuda::DType::kF32);
  EXPECT_EQ(cuda::parse_dtype("fp16"), cuda::DType::kF16);
  EXPECT_EQ(cuda::parse_dtype("bf16"), cuda::DType::kBF16);
  EXPECT_EQ(cuda::dtype_bytes(cuda::DType::kBF16), 2);
  try {
    cuda::parse_dtype("fp8");
    FAIL() << "fp8 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("backend.dtype"), std::string::npos) << e.what();
  }
}

TEST(CublasApi, LoadsWithoutADevice) {
  // dlopen of libcublas needs no GPU; the status names prove the symbols resolved.
  EXPECT_STREQ(cuda::cublas_api().status_name(CUBLAS_STATUS_SUCCESS), "CUBLAS_STATUS_SUCCESS");
}

TEST(DummyWeights, ValueIsTheIthOutputOfATextbookSplitMix64) {
  // Vigna's reference generator: state += golden gamma, then the mix. Element i of a tensor is
  // its (i + 1)-th output, scaled to the tensor's range from the top 53 bits.
  const uint64_t tensor_seed =
      cuda::dummy_tensor_seed(42, "model.layers.3.self_attn.q_proj.weight");
  const cuda::DummyRange range{0.25f, 0.5f};
  uint64_t state = tensor_seed;
  for (int64_t i = 0; i < 2000; ++i) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const double u = std::ldexp(static_cast<double>(z >> 11), -53);
    const auto expected = static_cast<float>(0.25 + 0.5 * (2.0 * u - 1.0));
    ASSERT_EQ(cuda::dummy_weight_value(tensor_seed, i, range), expected) << "element " << i;
  }
}

// The decode kernel's arithmetic on the host, step for step: warps of a block take tiles of
// kTile tokens in turn, each folding its tiles into a running (m, l, acc) with
// softmax_advance; the block merges its warps with softmax_rescale weights; split-K merges the
// partitions' (m, l, acc) the same way. Returns softmax(scores) . values.
std::vector<double> decode_like(const std::vector<float>& scores,
                                const std::vector<std::vector<float>>& values,
                                int32_t partition_tokens) {
  constexpr int kWarps = 4, kTile = 4;
  const auto context = static_cast<int32_t>(scores.size());
  const size_t dim = values.front().size();
  struct State {
    float m = -INFINITY;
    float l = 0.0f;
    std::vector<float> acc;
  };
  std::vector<State> parts;
  for (int32_t part = 0; part < cuda::num_partitions(context, partition_tokens); ++part) {
    const int32_t begin = part * partition_tokens;
    const int32_t end = std::min(context, begin + partition_tokens);
    std::vector<State> warps(kWarps, State{-INFINITY, 0.0f, std::vector<float>(dim, 0.0f)});
    for (int w = 0; w < kWarps; ++w) {
      State& st = warps[static_cast<size_t>(w)];
      for (int32_t t0 = begin + w * kTile; t0 < end; t0 += kWarps * kTile) {
        float tile_max = -INFINITY;
        for (int32_t t = t0; t < std::min(end, t0 + kTile); ++t) {
          tile_max = std::max(tile_max, scores[static_cast<size_t>(t)]);
        }
        const float alpha = cuda::softmax_advance(st.m, st.l, tile_max);
        for (float& a : st.acc) a *= alpha;
        for (int32_t t = t0; t < std::min(end, t0 + kTile); ++t) {
          const float p = std::exp(scores[static_cast<size_t>(t)] - st.m);
          st.l += p;
          for (size_t d = 0; d < dim; ++d) st.acc[d] += p * values[static_cast<size_t>(t)][d];
        }
      }
    }
    State block{-INFINITY, 0.0f, std::vector<float>(dim, 0.0f)};
    for (const State& w : warps) block.m = std::max(block.m, w.m);
    for (const State& w : warps) {
      const float weight = cuda::softmax_rescale(w.m, block.m);
      block.l += weight * w.l;
      for (size_t d = 0; d < dim; ++d) block.acc[d] += weight * w.acc[d];
    }
    parts.push_back(block);
  }
  float global_max = -INFINITY;
  for (const State& p : parts) global_max = std::max(global_max, p.m);
  double total = 0.0;
  std::vector<double> out(dim, 0.0);
  for (const State& p : parts) {
    const float weight = cuda::softmax_rescale(p.m, global_max);
    total += weight * p.l;
    for (size_t d = 0; d < dim; ++d) out[d] += weight * p.acc[d];
  }
  for (double& o : out) o /= total;
  return out;
}

std::vector<double> softmax_in_double(const std::vector<float>& scores,
                                      const std::vector<std::vector<float>>& values) {
  double max_score = -INFINITY;
  for (float s : scores) max_score = std::max(max_score, double{s});
  double total = 0.0;
  std::vector<double> out(values.front().size(), 0.0);
  for (size_t t = 0; t < scores.size(); ++t) {
    const double p = std::exp(double{scores[t]} - max_score);
    total += p;
    for (size_t d = 0; d < out.size(); ++d) out[d] += p * values[t][d];
  }
  for (double& o : out) o /= total;
  return out;
}

TEST(SoftmaxMath, DecodeOnlineAndSplitKMergeEqualAFullSoftmax) {
  std::mt19937_64 rng(5);
  // Contexts with empty warps (< 16 tokens), partial tiles, partitions that end mid-tile, and
  // score spreads whose exp overflows float without the max subtraction.
  for (const int32_t context : {1, 3, 5, 16, 17, 100, 511, 512, 513, 1500}) {
    for (const float spread : {1.0f, 30.0f, 200.0f}) {
      std::uniform_real_distribution<float> score(-spread, spread), value(-1.0f, 1.0f);
      std::vector<float> scores(static_cast<size_t>(context));
      std::vector<std::vector<float>> values(static_cast<size_t>(context), std::vector<float>(6));
      for (size_t t = 0; t < scores.size(); ++t) {
        scores[t] = score(rng);
        for (float& v : values[t]) v = value(rng);
      }
      const std::vector<double> expected = softmax_in_double(scores, values);
      for (const int32_t partition_tokens : {context, 7, 64, 512}) {
        const std::vector<double> got = decode_like(scores, values, partition_tokens);
        for (size_t d = 0; d < expected.size(); ++d) {
          ASSERT_NEAR(got[d], expected[d], 1e-5)
              << "context " << context << ", spread " << spread << ", partitions of "
              << partition_tokens << ", element " << d;
        }
      }
    }
  }
}

TEST(SoftmaxMath, PrefillRowOverMaskedKeyTilesEqualsACausalSoftmax) {
  // The prefill kernel's row update: 32-key tiles, keys past the row's position masked
  // (score -inf, p = 0), the tile's max over visible keys.
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<float> dist(-20.0f, 20.0f);
  const int32_t context = 100;
  std::vector<float> scores(context);
  std::vector<std::vector<float>> values(context, std::vector<float>(3));
  for (int32_t t = 0; t < context; ++t) {
    scores[static_cast<size_t>(t)] = dist(rng);
    for (float& v : values[static_cast<size_t>(t)]) v = dist(rng);
  }
  for (const int32_t pos : {0, 31, 32, 33, 63, 99}) {
    float m = -INFINITY, l = 0.0f;
    std::vector<float> acc(3, 0.0f);
    for (int32_t k0 = 0; k0 <= pos; k0 += 32) {
      float tile_max = -INFINITY;
      for (int32_t k = k0; k < k0 + 32; ++k) {
        if (k <= pos) tile_max = std::max(tile_max, scores[static_cast<size_t>(k)]);
      }
      const float alpha = cuda::softmax_advance(m, l, tile_max);
      for (float& a : acc) a *= alpha;
      for (int32_t k = k0; k < k0 + 32; ++k) {
        const float p = k <= pos ? std::exp(scores[static_cast<size_t>(k)] - m) : 0.0f;
        l += p;
        if (p > 0.0f) {
          for (size_t d = 0; d < 3; ++d) acc[d] += p * values[static_cast<size_t>(k)][d];
        }
      }
    }
    const std::vector<float> visible(scores.begin(), scores.begin() + pos + 1);
    const std::vector<std::vector<float>> visible_values(values.begin(), values.begin() + pos + 1);
    const std::vector<double> expected = softmax_in_double(visible, visible_values);
    for (size_t d = 0; d < 3; ++d) {
      EXPECT_NEAR(acc[d] / l, expected[d], 1e-4 * std::max(1.0, std::fabs(expected[d])))
          << "position " << pos << ", element " << d;
    }
  }
}

TEST(SoftmaxMath, EmptyStatesMergeAsTheIdentityWithoutNaN) {
  EXPECT_EQ(cuda::softmax_rescale(-INFINITY, 3.0f), 0.0f);
  EXPECT_EQ(cuda::softmax_rescale(-INFINITY, -INFINITY), 0.0f);  // exp(NaN) avoided
  EXPECT_EQ(cuda::softmax_rescale(2.0f, 2.0f), 1.0f);
  EXPECT_FLOAT_EQ(cuda::softmax_rescale(1.0f, 3.0f), std::exp(-2.0f));
  float m = -INFINITY, l = 0.0f;
  EXPECT_EQ(cuda::softmax_advance(m, l, -INFINITY), 0.0f);  // a fully masked tile
  EXPECT_EQ(m, -INFINITY);
  EXPECT_EQ(l, 0.0f);
  EXPECT_EQ(cuda::softmax_advance(m, l, 4.0f), 0.0f);  // the first real tile
  EXPECT_EQ(m, 4.0f);
  l = 2.0f;
  EXPECT_FLOAT_EQ(cuda::softmax_advance(m, l, 5.0f), std::exp(-1.0f));
  EXPECT_EQ(m, 5.0f);
  EXPECT_FLOAT_EQ(l, 2.0f * std::exp(-1.0f));
  EXPECT_EQ(cuda::softmax_advance(m, l, 1.0f), 1.0f);  // a lower tile keeps the max
  EXPECT_EQ(m, 5.0f);
}

TEST(SoftmaxMath, PartitionCountsCoverTheContext) {
  for (int32_t tokens : {1, 7, 512}) {
    for (int32_t context : {1, 6, 7, 8, 511, 512, 513, 100000}) {
      int32_t naive = 0;
      for (int32_t begin = 0; begin < context; begin += tokens) ++naive;
      EXPECT_EQ(cuda::num_partitions(context, tokens), naive) << context << " / " << tokens;
    }
  }
  // No int32 overflow near the top of the range.
  EXPECT_EQ(cuda::num_partitions(std::numeric_limits<int32_t>::max(), 512), 4194304);
}

TEST(DecodeAttention, RefusesMorePartitionsThanTheReductionsSharedMemoryHolds) {
  // (partitions + 1) floats of dynamic shared memory: 12287 partitions fill 48 KiB exactly.
  EXPECT_EQ(cuda::decode_reduce_shared_bytes(12287), cuda::kDefaultSharedBytes);
  EXPECT_GT(cuda::decode_reduce_shared_bytes(12288), cuda::kDefaultSharedBytes);
  // The shape check runs before anything touches the device: 12288 partitions of one token
  // are refused (before the fix they passed the check and would fail to launch).
  const int32_t context = 12288;
  KvSeqView seqs;
  seqs.kind = KvLayout::Kind::kContiguous;
  seqs.num_seqs = 1;
  KvArenaView<const float> arena{nullptr, nullptr, 1 << 20, 1, 64, 64, 64};
  cuda::DeviceBuffer workspace;
  try {
    cuda::decode_attention<float>(nullptr, 64, seqs, context, arena, 1, nullptr, 64, workspace,
                                  nullptr, {cuda::DecodeAlgorithm::kSplitK, 1});
    FAIL() << "12288 partitions accepted";
  } catch (const InvariantError& e) {
    EXPECT_NE(std::string(e.what()).find("12288 partitions"), std::string::npos) << e.what();
  }
}

// The nearest value of a sorted table of representable values (ties: the even bit pattern).
template <typename Bits>
double nearest(const std::vector<std::pair<double, Bits>>& table, double x) {
  const auto hi = std::lower_bound(table.begin(), table.end(), x,
                                   [](const auto& e, double v) { return e.first < v; });
  if (hi == table.begin()) return hi->first;
  if (hi == table.end()) return std::prev(hi)->first;
  const auto lo = std::prev(hi);
  const double dlo = x - lo->first, dhi = hi->first - x;
  if (dlo != dhi) return dlo < dhi ? lo->first : hi->first;
  return (lo->second & 1) == 0 ? lo->first : hi->first;
}

TEST(HostRounding, Fp16AndBf16RoundToTheNearestEvenRepresentableValue) {
  // Every finite non-negative fp16 and bf16 value, decoded from its bits by hand.
  std::vector<std::pair<double, uint16_t>> halves, bf16s;
  for (uint32_t bits = 0; bits < 0x7c00; ++bits) {
    const int exponent = static_cast<int>(bits >> 10);
    const double mantissa = bits & 0x3ff;
    const double value = exponent == 0 ? std::ldexp(mantissa, -24)
                                       : std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
    halves.emplace_back(value, static_cast<uint16_t>(bits));
  }
  for (uint32_t bits = 0; bits < 0x7f80; ++bits) {
    const uint32_t word = bits << 16;
    float value;
    std::memcpy(&value, &word, sizeof(value));
    bf16s.emplace_back(double{value}, static_cast<uint16_t>(bits));
  }
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> log_magnitude(-27.0, 15.9);  // subnormals to 6e4
  for (int i = 0; i < 20000; ++i) {
    auto x = static_cast<float>(std::exp2(log_magnitude(rng)));
    if (i % 4 == 1) {  // an exact midpoint between two fp16 neighbours
      const double a = nearest(halves, x);
      const auto next = std::upper_bound(halves.begin(), halves.end(), a,
                                         [](double v, const auto& e) { return v < e.first; });
      if (next != halves.end()) x = static_cast<float>((a + next->first) / 2);
    }
    const float sign = i % 2 == 0 ? 1.0f : -1.0f;
    const double expected_half = sign * nearest(halves, x);
    const double expected_bf16 = sign * nearest(bf16s, x);
    ASSERT_EQ(double{cuda::to_float_host(cuda::from_float_host<__half>(sign * x))}, expected_half)
        << "fp16 of " << sign * x;
    ASSERT_EQ(double{cuda::to_float_host(cuda::from_float_host<__nv_bfloat16>(sign * x))},
              expected_bf16)
        << "bf16 of " << sign * x;
  }
}

TEST(DeviceCapacity, SlotsThatFitFollowTheUtilizationRule) {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  cuda::DeviceMemoryBudget b;
  b.free_bytes = 80 * kGiB;
  b.utilization = 0.9;
  b.weight_bytes = 13 * kGiB;
  b.activation_bytes = 2 * kGiB;
  b.reserve_bytes = 0.5 * kGiB;
  b.slot_bytes = 524288;  // llama-2-7b in fp16: 2 x 32 layers x 4096 x 2 bytes
  // 72 GiB - 15.5 GiB = 56.5 GiB = 56.5 x 2048 slots of 512 KiB.
  EXPECT_EQ(cuda::kv_slots_that_fit(b), 115712);
  b.utilization = 1.0;
  b.free_bytes = 15.5 * kGiB + 3 * 524288.0;  // exactly three slots of room
  EXPECT_EQ(cuda::kv_slots_that_fit(b), 3);
  b.free_bytes -= 1;
  EXPECT_EQ(cuda::kv_slots_that_fit(b), 2);
  b.free_bytes = 10 * kGiB;  // the weights alone do not fit
  EXPECT_EQ(cuda::kv_slots_that_fit(b), 0);
}

Config cuda_config() {
  return Config::parse(
      "[workload]\nnum_requests = 2\narrival = burst\nprompt_len = 8\noutput_len = 4\n"
      "[model]\nname = tiny-llama\n[hardware]\nname = a10g\n"
      "[memory]\ncapacity_slots = 1024\n[backend]\nkind = cuda\ndtype = fp32\n",
      "cuda_test.ini");
}

// The host swap pool is reserved, not allocated: no cudaHostAlloc (which would fail here
// without a device, and pin the whole pool with one), nothing committed, zeros until written.
TEST(CudaKvCache, AHugeHostPoolIsReservedWithoutPinningOrADevice) {
  const int64_t slots = int64_t{64} << 20;  // 2 layers x K, V x 64M slots x 256 B: 64 GiB
  const cuda::CudaKvCache pool(2, slots, 1, 64, cuda::DType::kF32,
                               cuda::CudaKvCache::Memory::kPinnedHost);
  EXPECT_EQ(pool.total_bytes(), int64_t{64} << 30);
  EXPECT_EQ(pool.pinned_bytes(), 0u);
  EXPECT_EQ(pool.layer<float>(1).v_at(slots - 1, 0)[63], 0.0f);
  EXPECT_THROW(const_cast<cuda::CudaKvCache&>(pool).pin_slots(slots - 1, 2), InvariantError);
}

TEST(CudaExecutor, IsRegistered) { EXPECT_TRUE(executors().contains("cuda")); }

TEST(CudaExecutor, WithoutADeviceConstructionIsAnInputError) {
  if (gpu_testing::no_device_reason().empty()) GTEST_SKIP() << "a CUDA device is present";
  const ExperimentConfig config = resolve_experiment(cuda_config());
  try {
    executors().create("cuda", config);
    FAIL() << "created a cuda executor without a device";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("backend.kind = cuda: no CUDA device ("), std::string::npos) << what;
    EXPECT_NE(what.find("cuda_test.ini:"), std::string::npos)
        << "names where backend.kind is set: " << what;
  }
}

TEST(CudaExecutor, RegistersACapacityProbe) {
  EXPECT_TRUE(static_cast<bool>(executors().entry("cuda").traits.capacity_probe));
  EXPECT_TRUE(executors().entry("cuda").traits.exclusive_device);
  EXPECT_FALSE(static_cast<bool>(executors().entry("cpu").traits.capacity_probe));
  EXPECT_FALSE(static_cast<bool>(executors().entry("sim").traits.capacity_probe));
}

// One GPU: model.tensor_parallel > 1 is refused at config check time, without a device, with
// the rule the cpu back end applies too (kernels/model/single_rank.h).
TEST(CudaExecutor, RefusesTensorParallelAtConfigCheckWithoutADevice) {
  EXPECT_TRUE(static_cast<bool>(executors().entry("cuda").traits.check_config));
  EXPECT_TRUE(static_cast<bool>(executors().entry("cpu").traits.check_config));
  Config config = cuda_config();
  config.set("hardware.name", "a100-80gb");  // 8 GPUs a node: the simulator would split over 2
  config.set("model.tensor_parallel", "2");
  try {
    validate_engine_config(resolve_experiment(config));
    FAIL() << "validated a cuda config with model.tensor_parallel = 2";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "model.tensor_parallel");
    const std::string what = e.what();
    EXPECT_NE(what.find("the cuda back end runs the whole model on one GPU"), std::string::npos)
        << what;
  }
}

// memory.kv_dtype: the cuda kernels store K/V in backend.dtype or quantized (fp8_e4m3,
// int8); another float dtype is refused at config check time, without a device
// (kernels/model/kv_dtype_rule.h).
TEST(CudaExecutor, RefusesKvDtypesItDoesNotStoreAtConfigCheckWithoutADevice) {
  for (const char* dtype : {"fp32", "bf16"}) {
    Config config = cuda_config();
    config.set("backend.dtype", "fp16");
    config.set("memory.kv_dtype", dtype);
    try {
      validate_engine_config(resolve_experiment(config));
      FAIL() << "validated a cuda config with memory.kv_dtype = " << dtype;
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "memory.kv_dtype");
      const std::string what = e.what();
      EXPECT_NE(what.find("the cuda back end stores K/V in backend.dtype (fp16) or quantized"),
                std::string::npos)
          << what;
      EXPECT_NE(what.find("set one of auto, fp16, fp8_e4m3, int8"), std::string::npos) << what;
    }
  }
  for (const char* dtype : {"auto", "fp16", "fp8_e4m3", "int8"}) {
    Config config = cuda_config();
    config.set("backend.dtype", "fp16");
    config.set("memory.kv_dtype", dtype);
    EXPECT_NO_THROW(validate_engine_config(resolve_experiment(config))) << dtype;
  }
}

// Virtual memory maps pages of K and V only: a quantized cache's per-slot scales have no
// pages, so the two are refused together at config check time, as on the cpu back end.
TEST(CudaExecutor, RefusesAQuantizedCacheUnderVirtualMemory) {
  for (const char* dtype : {"fp8_e4m3", "int8"}) {
    Config config = cuda_config();
    config.set("backend.dtype", "fp16");
    config.set("memory.policy", "virtual");
    config.set("memory.capacity_slots", "65536");  // whole 2 MiB pages per layer and tensor
    config.set("memory.kv_dtype", dtype);
    try {
      validate_engine_config(resolve_experiment(config));
      FAIL() << "validated virtual memory with memory.kv_dtype = " << dtype;
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "memory.kv_dtype");
      EXPECT_NE(std::string(e.what()).find("maps pages of K and V only"), std::string::npos)
          << e.what();
    }
  }
  Config config = cuda_config();
  config.set("backend.dtype", "fp16");
  config.set("memory.policy", "virtual");
  config.set("memory.capacity_slots", "65536");
  config.set("memory.kv_dtype", "auto");
  EXPECT_NO_THROW(validate_engine_config(resolve_experiment(config)));
}

// The host pool is sized by the bytes a slot takes as memory.kv_dtype stores it (scales
// included), the rule of ModelSpec::kv_bytes_per_slot: a pool too large for
// backend.max_host_memory_gb is refused naming the stored dtype, and the same bytes in int8
// hold more slots than in fp32.
TEST(CudaExecutor, HostPoolIsSizedInTheStoredKvDtype) {
  Config config = cuda_config();
  config.set("memory.kv_dtype", "int8");
  config.set("memory.swap_space_gb", "2");
  config.set("backend.max_host_memory_gb", "1");
  try {
    validate_engine_config(resolve_experiment(config));
    FAIL() << "validated a 2 GiB pool under a 1 GiB budget";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "memory.swap_space_gb");
    EXPECT_NE(std::string(e.what()).find(" in int8) exceeds backend.max_host_memory_gb"),
              std::string::npos)
        << e.what();
  }
  config.set("backend.max_host_memory_gb", "2.01");
  const ExperimentConfig int8 = resolve_experiment(config);
  EXPECT_NO_THROW(validate_engine_config(int8));
  config.set("memory.kv_dtype", "auto");
  const ExperimentConfig fp32 = resolve_experiment(config);
  // tiny-llama, head_dim 16: 16 bytes + a 4-byte scale per vector against 64 in fp32.
  EXPECT_EQ(int8.model.kv_bytes_per_slot() * 64, fp32.model.kv_bytes_per_slot() * 20);
  EXPECT_GT(int8.memory.swap_capacity_slots, 3 * fp32.memory.swap_capacity_slots);
}

TEST(CudaExecutor, CapacityIsDerivedOnlyWhenNeitherKvCacheGbNorCapacitySlotsIsGiven) {
  Config derived = cuda_config();
  derived.set("memory.capacity_slots", "0");
  EXPECT_TRUE(resolve_experiment(derived).kv_capacity_derived);
  EXPECT_FALSE(resolve_experiment(cuda_config()).kv_capacity_derived);
  Config sized = derived;
  sized.set("hardware.kv_cache_gb", "1.5");
  EXPECT_FALSE(resolve_experiment(sized).kv_capacity_derived);
}

TEST(CudaExecutor, WithoutADeviceTheCapacityProbeIsAnInputError) {
  if (gpu_testing::no_device_reason().empty()) GTEST_SKIP() << "a CUDA device is present";
  Config derived = cuda_config();
  derived.set("memory.capacity_slots", "0");
  try {
    make_engine(resolve_experiment(derived));
    FAIL() << "made a cuda engine without a device";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("backend.kind = cuda: no CUDA device ("),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace kvlab
