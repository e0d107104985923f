// MetricOptions: the settings of a run's summary (core/metrics.h: summarize), resolved from
// the output.percentiles and output.slo_*_ms keys (app/resolve_experiment.cc). Apart from
// core/metrics.h so that ExperimentConfig can hold it.
#pragma once

#include <vector>

namespace kvlab {

// The summary's settings (output.percentiles, output.slo_*_ms).
struct MetricOptions {
  // Percentiles in [0, 100] of every latency distribution. p50, p90 and p99 are always in the
  // summary; the others given here are added to it (summary_distributions()).
  std::vector<double> percentiles = {50, 90, 99};
  // Service-level objectives, in seconds; 0: unset. A finished request meets them when each
  // one set holds (TPOT only for output_len > 1, as vLLM's benchmark_serving counts it).
  double slo_ttft_s = 0;
  double slo_tpot_s = 0;
  double slo_e2el_s = 0;
};

}  // namespace kvlab
