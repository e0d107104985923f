#include "traces/arrivals.h"

#include <algorithm>
#include <random>

#include "core/errors.h"
#include "core/suggest.h"
#include "traces/deterministic_random.h"

namespace kvlab {

namespace {

// Seed stream for arrivals (lengths use others; see workload_loader.cc).
constexpr uint64_t kArrivalStream = 1;

std::vector<double> drain(int64_t count, ArrivalGenerator generator) {
  std::vector<double> times;
  times.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) times.push_back(generator.next());
  return times;
}

}  // namespace

ArrivalProcess parse_arrival_process(const std::string& name) {
  if (name == "trace") return ArrivalProcess::kTrace;
  if (name == "poisson") return ArrivalProcess::kPoisson;
  if (name == "gamma") return ArrivalProcess::kGamma;
  if (name == "burst") return ArrivalProcess::kBurst;
  throw InputError(
      "", 0, "workload.arrival",
      unknown_name_message("arrival process", name, {"trace", "poisson", "gamma", "burst"}));
}

const char* to_string(ArrivalProcess process) {
  switch (process) {
    case ArrivalProcess::kTrace:
      return "trace";
    case ArrivalProcess::kPoisson:
      return "poisson";
    case ArrivalProcess::kGamma:
      return "gamma";
    case ArrivalProcess::kBurst:
      return "burst";
  }
  return "?";
}

ArrivalGenerator::ArrivalGenerator(ArrivalProcess process, double rate, double burstiness,
                                   uint64_t seed)
    : process_(process),
      rate_(rate),
      shape_(burstiness),
      scale_(0.0),
      rng_(derive_seed(seed, kArrivalStream)) {
  check_invariant(process != ArrivalProcess::kTrace, "ArrivalGenerator: trace arrivals");
  if (process == ArrivalProcess::kPoisson) {
    check_invariant(rate > 0, "poisson arrivals: rate <= 0");
  }
  if (process == ArrivalProcess::kGamma) {
    check_invariant(rate > 0 && burstiness > 0, "gamma arrivals: rate or burstiness <= 0");
    scale_ = 1.0 / (rate * burstiness);  // mean = shape * scale = 1 / rate
  }
}

double ArrivalGenerator::next() {
  if (!started_) {
    started_ = true;  // the first request at 0, without a draw
    return now_;
  }
  switch (process_) {
    case ArrivalProcess::kPoisson:
      now_ += exponential(rng_, rate_);
      break;
    case ArrivalProcess::kGamma:
      now_ += gamma_variate(rng_, shape_, scale_);
      break;
    case ArrivalProcess::kBurst:
    case ArrivalProcess::kTrace:
      break;
  }
  return now_;
}

std::vector<double> poisson_arrivals(int64_t count, double rate, uint64_t seed) {
  return drain(count, ArrivalGenerator(ArrivalProcess::kPoisson, rate, 1.0, seed));
}

std::vector<double> gamma_arrivals(int64_t count, double rate, double burstiness, uint64_t seed) {
  return drain(count, ArrivalGenerator(ArrivalProcess::kGamma, rate, burstiness, seed));
}

std::vector<double> burst_arrivals(int64_t count) {
  return drain(count, ArrivalGenerator(ArrivalProcess::kBurst, 1.0, 1.0, 0));
}

std::vector<double> trace_arrivals(const std::vector<double>& timestamps_s, double time_scale) {
  check_invariant(time_scale > 0, "trace_arrivals: time_scale <= 0");
  std::vector<double> times;
  if (timestamps_s.empty()) return times;
  const double earliest = *std::min_element(timestamps_s.begin(), timestamps_s.end());
  times.reserve(timestamps_s.size());
  for (double t : timestamps_s) times.push_back((t - earliest) * time_scale);
  return times;
}

}  // namespace kvlab
