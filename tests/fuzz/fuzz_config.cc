// libFuzzer harness: an experiment INI file read (Config::load: BOM, sections, keys, [sweep])
// and every point of its sweep resolved and checked as `kvlab run --check` does, short of
// loading the workload (a fuzzed num_requests could ask for any amount of work).
// Seeds: corpus/fuzz_config/ (the shipped experiments and small variations).
#include "app/builtins.h"
#include "app/resolve_experiment.h"
#include "app/sweep.h"
#include "core/config.h"
#include "core/engine.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// Points resolved per input at most: a sweep multiplies its axes, and each point is checked
// the same way.
constexpr size_t kMaxPoints = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvlab::register_builtins();
  const std::string path = kvlab::fuzz::write_input(kvlab::fuzz::as_text(data, size), ".ini");
  kvlab::fuzz::expect_read_or_refused([&] {
    const kvlab::Config config = kvlab::Config::load(path);
    if (kvlab::sweep_size(config) > kMaxPoints) return;
    for (const kvlab::SweepPoint& point : kvlab::expand_sweep(config)) {
      kvlab::fuzz::expect_read_or_refused([&] {
        const kvlab::ExperimentConfig resolved = kvlab::resolve_experiment(point.config);
        kvlab::validate_engine_config(resolved);
      });
    }
  });
  return 0;
}
