// The cuda back end's device virtual memory (kernels/cuda/vmm_kv_arena.h over the driver's
// VMM API): the real-page arithmetic and the granularity refusal (everywhere, no device
// needed); on a GPU, the arena's mappings mirror the virtual manager's page tables, bytes
// written through one range are read through the physical view and, after the page moved to
// another request's range, through that range; and through run_experiment, memory.policy =
// virtual gives the same greedy tokens as paged and contiguous memory on the cuda back end
// and as the cpu back end's real virtual memory, with its mapping calls in the step table, and
// forks copy through the pool as paged memory shares. Device tests skip without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "app/experiment_runner.h"
#include "app/resolve_experiment.h"
#include "core/errors.h"
#include "core/experiment.h"
#include "core/request.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_virtual_memory.h"
#include "kernels/cuda/vmm_kv_arena.h"
#include "policies/memory/virtual.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/run_test_util.h"

namespace kvlab {
namespace {

using cuda::CudaVmmKvArena;
using cuda::DType;
using e2e::run_one;
using e2e::tokens_of;

constexpr int64_t kMiB = 1 << 20;
constexpr int32_t kLayers = 2, kKvHeads = 2, kHeadDim = 16;  // tiny-llama: 128 B per token

// A virtual manager's geometry for tiny-llama's KV (fp32) with `page` pages, a `window`-token
// context and room for `groups` page groups.
MemoryConfig memory(const std::string& page, int64_t page_bytes, int32_t groups, int32_t window) {
  MemoryConfig m;
  m.policy = "virtual";
  m.capacity_slots = page_bytes / 128 * groups;
  m.max_seq_len = window;
  m.kv_tensor_bytes_per_token = kKvHeads * kHeadDim * 4;
  m.kv_layers = kLayers;
  m.settings.set("memory.page_size", page);
  return m;
}

VirtualGeometry geometry_of(const MemoryConfig& m) {
  return memory_policies().entry("virtual").traits.vmm_geometry(m);
}

// --- Everywhere: the arithmetic and the refusal ----------------------------------------------

TEST(CudaVmmPages, RealPageBytesAndTheGranularityRefusal) {
  const VirtualGeometry g64 = geometry_of(memory("64KiB", 64 << 10, 4, 1024));
  EXPECT_EQ(g64.tokens_per_page, 512);
  // fp32 storage: the manager's page; fp16 storage: half of it.
  EXPECT_EQ(CudaVmmKvArena::real_page_bytes(g64, kKvHeads, kHeadDim, DType::kF32), 64 << 10);
  EXPECT_EQ(CudaVmmKvArena::real_page_bytes(g64, kKvHeads, kHeadDim, DType::kF16), 32 << 10);
  // A 64 KiB page on a 2 MiB-granular GPU is refused, saying why and with the granularity.
  const std::string why =
      CudaVmmKvArena::page_size_refusal(g64, kKvHeads, kHeadDim, DType::kF32, 2 * kMiB);
  EXPECT_NE(why.find("65536 bytes"), std::string::npos) << why;
  EXPECT_NE(why.find("granularity (2097152 bytes"), std::string::npos) << why;
  EXPECT_EQ(CudaVmmKvArena::page_size_refusal(g64, kKvHeads, kHeadDim, DType::kF32, 64 << 10), "");
  // 2 MiB pages: 16384 tokens, 2 MiB in fp32 (accepted), 1 MiB in fp16 (refused).
  const VirtualGeometry g2m = geometry_of(memory("2MiB", 2 * kMiB, 2, 1024));
  EXPECT_EQ(g2m.tokens_per_page, 16384);
  EXPECT_EQ(CudaVmmKvArena::page_size_refusal(g2m, kKvHeads, kHeadDim, DType::kF32, 2 * kMiB), "");
  EXPECT_NE(CudaVmmKvArena::page_size_refusal(g2m, kKvHeads, kHeadDim, DType::kF16, 2 * kMiB), "");
  // OPT-13B's 40 x 128 fp16 elements: 204 tokens in 2 MiB = 2,088,960 bytes, not whole granules.
  VirtualGeometry opt = g2m;
  opt.tokens_per_page = 204;
  EXPECT_NE(CudaVmmKvArena::page_size_refusal(opt, 40, 128, DType::kF16, 2 * kMiB), "");
  // llama-3-8b's 8 x 128 fp16: 1024 tokens, exactly 2 MiB.
  opt.tokens_per_page = 1024;
  EXPECT_EQ(CudaVmmKvArena::page_size_refusal(opt, 8, 128, DType::kF16, 2 * kMiB), "");
}

// Without a driver the entry points cannot be had: a reason, not a crash or an exception.
TEST(CudaVmmPages, NoDriverIsAReasonNotACrash) {
  if (gpu_testing::no_device_reason().empty()) GTEST_SKIP() << "a device is present";
  const std::string why = cuda::vmm_unsupported_reason(0);
  EXPECT_FALSE(why.empty());
  EXPECT_THROW(cuda::vmm_granularity(0), cuda::CudaError);
}

// --- On a GPU: the arena ------------------------------------------------------------------------

std::unique_ptr<SequenceGroup> group(RequestId id, int32_t prompt, int32_t output) {
  RequestSpec spec;
  spec.id = id;
  spec.prompt_len = prompt;
  spec.output_len = output;
  return std::make_unique<SequenceGroup>(spec);
}

// One float of layer `layer`'s K at `slot` of `cache`, through the device.
float read_k(const cuda::CudaKvCache& cache, int32_t layer, int64_t slot) {
  float value = 0;
  const float* at = cache.layer<float>(layer).k + slot * kKvHeads * kHeadDim;
  cuda::check_cuda(cudaMemcpy(&value, at, sizeof(float), cudaMemcpyDeviceToHost), "read K");
  return value;
}
void write_k(cuda::CudaKvCache& cache, int32_t layer, int64_t slot, float value) {
  float* at = cache.layer<float>(layer).k + slot * kKvHeads * kHeadDim;
  cuda::check_cuda(cudaMemcpy(at, &value, sizeof(float), cudaMemcpyHostToDevice), "write K");
  cuda::check_cuda(cudaDeviceSynchronize(), "write K");
}

// The page size this device maps tiny-llama's fp32 KV at: its granularity (2 MiB on the GPUs
// we know), "" when that is not one memory.page_size accepts.
std::string device_page(int64_t* bytes) {
  *bytes = static_cast<int64_t>(cuda::vmm_granularity(0));
  for (int64_t p : kVirtualPageSizes) {
    if (p == *bytes) return page_size_label(p);
  }
  return "";
}

class CudaVmmArena : public ::testing::Test {
 protected:
  void SetUp() override {
    KVLAB_REQUIRE_CUDA_DEVICE();
    cuda::check_cuda(cudaSetDevice(0), "cudaSetDevice");
    const std::string why = cuda::vmm_unsupported_reason(0);
    if (!why.empty()) GTEST_SKIP() << why;
    page_ = device_page(&page_bytes_);
    if (page_.empty()) GTEST_SKIP() << "granularity " << page_bytes_ << " is no memory.page_size";
  }
  std::string page_;
  int64_t page_bytes_ = 0;
};

TEST_F(CudaVmmArena, MirrorsPageTablesAndMovesPagesBetweenRanges) {
  const int64_t tokens = page_bytes_ / 128;  // per page
  const MemoryConfig m = memory(page_, page_bytes_, 3, static_cast<int32_t>(2 * tokens));
  const VirtualGeometry g = geometry_of(m);
  ASSERT_EQ(g.tokens_per_page, tokens);
  ASSERT_EQ(g.pages_per_range, 2);
  std::unique_ptr<KvCacheManager> kv = memory_policies().create("virtual", m);
  CudaVmmKvArena arena(g, kLayers, kKvHeads, kHeadDim, DType::kF32, 0);
  EXPECT_EQ(arena.ranges(), 3);
  EXPECT_EQ(arena.physical().num_slots(), 3 * tokens);
  EXPECT_EQ(arena.virtual_cache().num_slots(), 3 * 2 * tokens);
  EXPECT_EQ(arena.reserved_bytes(), 2LL * kLayers * 3 * 2 * page_bytes_);
  const VmmCallCounters start = arena.counters();
  EXPECT_EQ(start.calls, 1);  // cuMemAddressReserve

  const auto a = group(1, static_cast<int32_t>(tokens + 8), 4);  // 2 pages
  kv->admit(*a);
  arena.mirror(*kv);
  const int64_t ra = kv->virtual_range(a->seqs[0]);
  const std::span<const int32_t> pa = kv->virtual_range_pages(ra);
  ASSERT_EQ(pa.size(), 2u);
  // cuMemMap + cuMemSetAccess per page per layer and tensor.
  EXPECT_EQ(arena.counters().calls - start.calls, 2 * 2 * 2 * kLayers);
  EXPECT_EQ(arena.counters().pages_mapped, 2 * 2 * kLayers);
  EXPECT_GT(arena.counters().seconds, 0.0);
  for (int32_t t = 0; t < 2; ++t)
    for (int32_t l = 0; l < kLayers; ++l) {
      EXPECT_TRUE(arena.is_mapped(t, l, ra, 0));
      EXPECT_TRUE(arena.is_mapped(t, l, ra, 1));
    }
  arena.mirror(*kv);  // nothing changed: no call
  EXPECT_EQ(arena.counters().calls - start.calls, 2 * 2 * 2 * kLayers);

  // Token tokens + 3 of `a` is token 3 of its second page: written through the range, read
  // through the physical view at that page's slot, and the other way round.
  const int64_t virtual_slot = arena.layout(ra).base_slot + tokens + 3;
  const int64_t physical_slot = static_cast<int64_t>(pa[1]) * tokens + 3;
  write_k(arena.virtual_cache(), 1, virtual_slot, 3.5f);
  EXPECT_EQ(read_k(arena.physical(), 1, physical_slot), 3.5f);
  write_k(arena.physical(), 0, static_cast<int64_t>(pa[0]) * tokens, 7.0f);
  EXPECT_EQ(read_k(arena.virtual_cache(), 0, arena.layout(ra).base_slot), 7.0f);

  // `a` finishes: its pages leave its range. `b` takes a range and pages; a's second page
  // serves it with its bytes.
  const int32_t moved = pa[1];
  kv->release(a->seqs[0]);
  arena.mirror(*kv);
  EXPECT_EQ(arena.counters().pages_unmapped, 2 * 2 * kLayers);
  EXPECT_FALSE(arena.is_mapped(0, 0, ra, 0));
  const auto b = group(2, static_cast<int32_t>(2 * tokens - 8), 4);  // the pool's LIFO: a's
  kv->admit(*b);
  arena.mirror(*kv);
  const int64_t rb = kv->virtual_range(b->seqs[0]);
  const std::span<const int32_t> pb = kv->virtual_range_pages(rb);
  const auto it = std::find(pb.begin(), pb.end(), moved);
  ASSERT_NE(it, pb.end()) << "a's page must serve b";
  const int64_t b_slot = arena.layout(rb).base_slot + (it - pb.begin()) * tokens + 3;
  EXPECT_EQ(read_k(arena.virtual_cache(), 1, b_slot), 3.5f);  // its bytes came along
  kv->audit();
}

TEST_F(CudaVmmArena, RefusesPagesBelowTheGranularity) {
  VirtualGeometry g = geometry_of(memory(page_, page_bytes_, 2, 1024));
  g.tokens_per_page /= 2;  // half a granule
  EXPECT_THROW(CudaVmmKvArena(g, kLayers, kKvHeads, kHeadDim, DType::kF32, 0),
               std::invalid_argument);
}

// --- On a GPU: the engine
// -------------------------------------------------------------------------

// executor_test.cc's workload: 24 requests at t = 0 on tiny-llama with a 256-token context,
// fp32, on back end `kind`.
Config tiny(const std::string& kind, const std::string& extra) {
  return Config::parse(
      "[workload]\nnum_requests = 24\narrival = burst\nprompt_len = uniform:8:90\n"
      "output_len = uniform:8:70\nseed = 11\n"
      "[model]\nname = tiny-llama\nmax_seq_len = 256\n"
      "[hardware]\nname = a10g\n"
      "[memory]\nswap_space_gb = 0.002\n"
      "[backend]\nkind = " +
          kind + "\ndtype = fp32\n" + extra,
      "gpu_vmm_test.ini");
}

// memory.policy = virtual with the device's pages and room for `groups` of them (each holds
// a whole 256-token range: at most `groups` requests run at once).
std::string virtual_memory(const std::string& page, int64_t page_bytes, int32_t groups,
                           const std::string& extra = "") {
  return "[memory]\npolicy = virtual\npage_size = " + page +
         "\ncapacity_slots = " + std::to_string(page_bytes / 128 * groups) + "\n" + extra;
}

class CudaVmmEngine : public CudaVmmArena {};

TEST_F(CudaVmmEngine, GreedyTokensEqualPagedContiguousAndTheCpusVirtualMemory) {
  const RunResult paged =
      run_one(tiny("cuda", "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n"));
  const RunResult contiguous = run_one(
      tiny("cuda", "[memory]\npolicy = contiguous\nreservation = max\ncapacity_slots = 8192\n"));
  for (const std::string& extra : {std::string(), std::string("deferred_reclaim = true\n")}) {
    SCOPED_TRACE(extra.empty() ? "eager unmapping" : "deferred reclamation");
    const std::string mem = virtual_memory(page_, page_bytes_, 6, extra);
    const RunResult gpu = run_one(tiny("cuda", mem));
    EXPECT_EQ(tokens_of(gpu), tokens_of(paged));
    EXPECT_EQ(tokens_of(gpu), tokens_of(contiguous));
    EXPECT_EQ(tokens_of(gpu), tokens_of(run_one(tiny("cpu", mem))));
    ASSERT_TRUE(gpu.virtual_memory.enabled);
    // Six pages for 24 requests: pages move between ranges, and every move is real calls.
    int64_t calls = 0;
    double seconds = 0;
    for (const StepRecord& s : gpu.steps) {
      calls += s.vmm_calls;
      seconds += s.vmm_s;
      EXPECT_LE(s.vmm_s, s.duration_s);
    }
    if (extra.empty()) {
      EXPECT_GE(calls, 24 * 2 * kLayers * 2);  // each request's page mapped: cuMemMap + access
    } else {
      EXPECT_GT(calls, 0);  // idle ranges keep their pages for the next request
    }
    EXPECT_LE(gpu.virtual_memory.ranges_created, 6);
    EXPECT_GT(seconds, 0.0);
    EXPECT_EQ(gpu.summary.get("vmm_calls"), static_cast<double>(calls));
    EXPECT_GT(gpu.summary.get("mean_batch_size"), 1.5) << "requests must share batches";
  }
}

// n = 3: each sample's range receives a copy of the prompt's pages through the pool's
// physical view; the samples' tokens equal paged memory's, which shares the prompt's blocks.
TEST_F(CudaVmmEngine, ForkCopiesThroughThePoolMatchPaged) {
  auto parallel = [](const std::string& mem) {
    Config c = tiny("cuda", mem);
    c.set("workload.n", "3");
    c.set("workload.num_requests", "4");
    return run_one(c);
  };
  const RunResult virt = parallel(virtual_memory(page_, page_bytes_, 12));
  const RunResult paged =
      parallel("[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 8192\n");
  EXPECT_EQ(tokens_of(virt), tokens_of(paged));
  int64_t copy_bytes = 0;
  for (const StepRecord& s : virt.steps) copy_bytes += s.copy_bytes;
  EXPECT_GT(copy_bytes, 0);
}

// A page below the device's granularity is refused when the executor is built, naming the key
// and the granularity.
TEST_F(CudaVmmEngine, RefusesAPageSizeBelowTheGranularity) {
  if (page_bytes_ <= (64 << 10)) GTEST_SKIP() << "this device maps 64 KiB pages";
  const ExperimentConfig config =
      resolve_experiment(tiny("cuda", virtual_memory("64KiB", 64 << 10, 8)));
  try {
    executors().create("cuda", config);
    FAIL() << "a 64 KiB page was accepted on a " << page_bytes_ << "-byte granularity";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("memory.page_size"), std::string::npos) << what;
    EXPECT_NE(what.find("granularity (" + std::to_string(page_bytes_)), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace kvlab
