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

template <typename Interval>
std::vector<double> cumulative(int64_t count, Interval&& interval) {
  std::vector<double> times;
  times.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  double now = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    if (i > 0) now += interval();
    times.push_back(now);
  }
  return times;
}

}  // namespace

ArrivalProcess parse_arrival_process(const std::string& name) {
  if (name == "trace") return ArrivalProcess::kTrace;
  if (name == "poisson") return ArrivalProcess::kPoisson;
  if (name == "gamma") return ArrivalProcess::kGamma;
  if (name == "burst") return ArrivalProcess::kBurst;
  throw InputError("", 0, "workload.arrival",
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

std::vector<double> poisson_arrivals(int64_t count, double rate, uint64_t seed) {
  check_invariant(rate > 0, "poisson_arrivals: rate <= 0");
  std::mt19937_64 rng(derive_seed(seed, kArrivalStream));
  return cumulative(count, [&] { return exponential(rng, rate); });
}

std::vector<double> gamma_arrivals(int64_t count, double rate, double burstiness, uint64_t seed) {
  check_invariant(rate > 0 && burstiness > 0, "gamma_arrivals: rate or burstiness <= 0");
  std::mt19937_64 rng(derive_seed(seed, kArrivalStream));
  const double scale = 1.0 / (rate * burstiness);  // mean = shape * scale = 1 / rate
  return cumulative(count, [&] { return gamma_variate(rng, burstiness, scale); });
}

std::vector<double> burst_arrivals(int64_t count) {
  return std::vector<double>(static_cast<size_t>(std::max<int64_t>(count, 0)), 0.0);
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
