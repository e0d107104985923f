// Arrival processes: when each request of a workload reaches the server.
//   trace    the trace's own timestamps, relative to the earliest, times time_scale
//   poisson  exponential inter-arrival times at `rate` requests per second
//   gamma    gamma inter-arrival times with shape `burstiness` and mean 1 / rate, as vLLM's
//            benchmark_serving draws them: burstiness 1 is Poisson, < 1 burstier, > 1
//            more regular (coefficient of variation 1 / sqrt(burstiness))
//   burst    every request at time 0
// Generated processes start with the first request at time 0 (vLLM sends one, then sleeps)
// and are deterministic given the seed (see deterministic_random.h).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace kvlab {

enum class ArrivalProcess { kTrace, kPoisson, kGamma, kBurst };

// Throws InputError naming workload.arrival for an unknown name.
ArrivalProcess parse_arrival_process(const std::string& name);
const char* to_string(ArrivalProcess process);

// A generated process's arrival times one at a time, in constant memory: next() gives, call
// by call, the times poisson_arrivals / gamma_arrivals / burst_arrivals return all at once
// (those are this generator drained). The first is 0 and they never decrease.
class ArrivalGenerator {
 public:
  // REQUIRES: process != kTrace; rate > 0 for poisson and gamma; burstiness > 0 for gamma
  // (rate and burstiness are ignored where unused).
  ArrivalGenerator(ArrivalProcess process, double rate, double burstiness, uint64_t seed);
  double next();

 private:
  ArrivalProcess process_;
  double rate_;
  double shape_;
  double scale_;
  std::mt19937_64 rng_;
  double now_ = 0.0;
  bool started_ = false;
};

// `count` arrival times, non-decreasing, the first at 0. REQUIRES: count >= 0, rate > 0.
std::vector<double> poisson_arrivals(int64_t count, double rate, uint64_t seed);
// REQUIRES: count >= 0, rate > 0, burstiness > 0.
std::vector<double> gamma_arrivals(int64_t count, double rate, double burstiness, uint64_t seed);
std::vector<double> burst_arrivals(int64_t count);
// (timestamp - earliest timestamp) * time_scale for each, in the given order.
// REQUIRES: time_scale > 0; timestamps >= 0.
std::vector<double> trace_arrivals(const std::vector<double>& timestamps_s, double time_scale);

}  // namespace kvlab
