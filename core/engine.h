// Engine: the one loop every back end runs.
//
//   while requests remain:
//     admit arrivals up to now; fork samples whose prompt is done
//     plan = scheduler.schedule(queues, kv)        (the policies decide)
//     result = executor.execute(plan, kv)          (sim cost model | CPU | CUDA)
//     advance the clock; apply tokens; finish and release sequences; record the step
//
// With a virtual clock (the simulator) time advances by the executor's step duration; when
// nothing can run the clock jumps to the next arrival. Ties are broken by request id, so the
// same input gives the same run. A step that neither runs anything nor changes any queue while
// requests are waiting is a deadlock: the Engine throws instead of hanging.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/executor.h"
#include "core/experiment.h"
#include "core/kv_cache_manager.h"
#include "core/metrics.h"
#include "core/scheduler.h"

namespace kvlab {

struct EngineProgress {
  int64_t done = 0;        // finished + rejected
  int64_t total = 0;
  double sim_time_s = 0;
};

class Engine {
 public:
  Engine(const ExperimentConfig& config, std::unique_ptr<KvCacheManager> kv,
         std::unique_ptr<Scheduler> scheduler, std::unique_ptr<Executor> executor);
  ~Engine();

  // Runs `requests` (sorted by arrival) to completion. `progress` (may be empty) is called
  // every few hundred steps.
  RunResult run(const std::vector<RequestSpec>& requests,
                const std::function<void(const EngineProgress&)>& progress = {});

  const KvCacheManager& kv() const { return *kv_; }
  // Audit the memory manager after every step (tests; slow).
  void set_audit_every_step(bool on) { audit_every_step_ = on; }

 private:
  struct State;
  const ExperimentConfig& config_;
  std::unique_ptr<KvCacheManager> kv_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Executor> executor_;
  bool audit_every_step_ = false;
};

// Builds the manager, scheduler and executor named by `config` from their registries.
std::unique_ptr<Engine> make_engine(const ExperimentConfig& config);

}  // namespace kvlab
