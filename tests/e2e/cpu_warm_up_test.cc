// The cpu back end's start-up (kernels/cpu_executor.h): freed host memory is kept and one
// untimed forward of the largest batch warms the heap, so a run's first step, a burst's
// largest, takes page faults only for the KV slots it writes for the first time, not for its
// activations (which cost the first steps 20% and the simulator's TTFT its accuracy:
// docs/reproduction.md, Fidelity).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <memory>
#include <utility>
#include <vector>

#include "app/builtins.h"
#include "app/resolve_experiment.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/experiment.h"

namespace kvlab {
namespace {

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Counts the page faults of the first step the inner executor runs.
class FirstStepFaults : public Executor {
 public:
  FirstStepFaults(std::unique_ptr<Executor> inner, long* faults)
      : inner_(std::move(inner)), faults_(faults) {}
  std::string name() const override { return inner_->name(); }
  bool is_real() const override { return inner_->is_real(); }
  StepResult execute(const SchedulerOutput& plan, const KvCacheManager& kv) override {
    const long before = minor_faults();
    StepResult result = inner_->execute(plan, kv);
    if (*faults_ < 0) *faults_ = minor_faults() - before;
    return result;
  }
  double copy_within(const std::vector<KvCopy>& copies) override {
    return inner_->copy_within(copies);
  }

 private:
  std::unique_ptr<Executor> inner_;
  long* faults_;
};

TEST(CpuWarmUp, TheFirstStepFaultsOnlyTheKvPagesItWrites) {
  register_builtins();
  // 16 prompts of 100-120 tokens at once: the first step prefills them all (~1,760 tokens).
  const ExperimentConfig config = resolve_experiment(
      Config::parse("[workload]\nnum_requests = 16\narrival = burst\nprompt_len = uniform:100:120\n"
                    "output_len = 2\nseed = 3\n"
                    "[model]\nname = tiny-llama\nmax_seq_len = 256\n"
                    "[hardware]\nname = a10g\n"
                    "[memory]\npolicy = paged\nblock_size = 16\ncapacity_slots = 4096\n"
                    "[scheduler]\nmax_num_seqs = 16\nmax_batched_tokens = 2048\n"
                    "[backend]\nkind = cpu\n",
                    "cpu_warm_up_test.ini"));
  std::vector<RequestSpec> requests;
  int64_t tokens = 0;
  for (int32_t i = 0; i < 16; ++i) {
    RequestSpec r;
    r.id = i;
    r.prompt_len = 100 + i;
    r.output_len = 2;
    r.prompt_tokens.assign(static_cast<size_t>(r.prompt_len), i + 1);
    tokens += r.prompt_len;
    requests.push_back(r);
  }
  long faults = -1;
  auto engine = make_engine(config, [&](std::unique_ptr<Executor> inner) {
    return std::make_unique<FirstStepFaults>(std::move(inner), &faults);
  });
  const RunResult run = engine->run(requests);
  ASSERT_FALSE(run.steps.empty());
  EXPECT_EQ(run.steps.front().prefill_tokens, tokens);  // every prompt in the first step
  // The KV pages it writes: K and V of each layer, slot-major, kv_heads x head_dim fp32 a slot.
  const ModelSpec& m = config.model;
  const long page = sysconf(_SC_PAGESIZE);
  const long kv_bytes = tokens * m.num_kv_heads * m.head_dim * 4;
  const long kv_pages = 2 * m.num_layers * (kv_bytes / page + 2);
  // Its activations alone (rows x hidden, qkv, MLP widths, fp32) would be several times that.
  EXPECT_GT(tokens * (4 * m.hidden_size + 3 * m.ffn_size) * 4 / page, 3 * kv_pages);
  EXPECT_GE(faults, 0);
  EXPECT_LE(faults, kv_pages + 64) << "KV pages written: " << kv_pages;
}

}  // namespace
}  // namespace kvlab
