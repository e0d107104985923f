#include "traces/length_distribution.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/config.h"
#include "core/errors.h"
#include "core/suggest.h"
#include "traces/deterministic_random.h"
#include "traces/numeric_fields.h"

namespace kvlab {

namespace {

constexpr const char* kForms = "expected N, uniform:A:B or lognormal:MU:SIGMA";

[[noreturn]] void fail(const std::string& key, const std::string& spec, const std::string& why) {
  throw InputError("", 0, key, "'" + spec + "': " + why + " (" + kForms + ")");
}

int64_t parse_length(const std::string& text, const std::string& key, const std::string& spec) {
  int64_t value = 0;
  const std::string t = trim(text);
  const char* end = t.data() + t.size();
  auto [ptr, ec] = std::from_chars(t.data(), end, value);
  if (t.empty() || ec != std::errc() || ptr != end)
    fail(key, spec, "'" + t + "' is not an integer");
  if (value < 1 || value > kMaxTokenCount) {
    fail(key, spec, "length " + t + " is outside [1, " + std::to_string(kMaxTokenCount) + "]");
  }
  return value;
}

double parse_real(const std::string& text, const std::string& key, const std::string& spec) {
  double value = 0;
  const std::string t = trim(text);
  const char* end = t.data() + t.size();
  auto [ptr, ec] = std::from_chars(t.data(), end, value);
  if (t.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
    fail(key, spec, "'" + t + "' is not a finite number");
  }
  return value;
}

}  // namespace

LengthDistribution LengthDistribution::parse(const std::string& spec, const std::string& key) {
  const auto parts = split_list(spec, ':');
  LengthDistribution d;
  if (parts.empty() || trim(spec).empty()) fail(key, spec, "empty");
  if (parts.size() == 1) {
    d.kind_ = Kind::kConstant;
    d.lo_ = d.hi_ = parse_length(parts[0], key, spec);
  } else if (parts[0] == "uniform") {
    if (parts.size() != 3) fail(key, spec, "uniform takes two bounds");
    d.kind_ = Kind::kUniform;
    d.lo_ = parse_length(parts[1], key, spec);
    d.hi_ = parse_length(parts[2], key, spec);
    if (d.lo_ > d.hi_) fail(key, spec, "uniform lower bound exceeds upper bound");
  } else if (parts[0] == "lognormal") {
    if (parts.size() != 3) fail(key, spec, "lognormal takes MU and SIGMA");
    d.kind_ = Kind::kLognormal;
    d.mu_ = parse_real(parts[1], key, spec);
    d.sigma_ = parse_real(parts[2], key, spec);
    if (d.sigma_ < 0) fail(key, spec, "SIGMA must be >= 0");
  } else {
    const std::string near = did_you_mean(parts[0], {"uniform", "lognormal"});
    fail(key, spec,
         "unknown distribution '" + parts[0] + "'" +
             (near.empty() ? "" : " (did you mean '" + near + "'?)"));
  }
  return d;
}

int32_t LengthDistribution::sample(std::mt19937_64& rng) const {
  switch (kind_) {
    case Kind::kConstant:
      return static_cast<int32_t>(lo_);
    case Kind::kUniform:
      return static_cast<int32_t>(uniform_int(rng, lo_, hi_));
    case Kind::kLognormal: {
      const double value = std::exp(mu_ + sigma_ * standard_normal(rng));
      const double clamped =
          std::clamp(std::round(value), 1.0, static_cast<double>(kMaxTokenCount));
      return static_cast<int32_t>(clamped);
    }
  }
  return 1;
}

double LengthDistribution::mean() const {
  switch (kind_) {
    case Kind::kConstant:
      return static_cast<double>(lo_);
    case Kind::kUniform:
      return 0.5 * static_cast<double>(lo_ + hi_);
    case Kind::kLognormal:
      return std::exp(mu_ + 0.5 * sigma_ * sigma_);
  }
  return 0;
}

}  // namespace kvlab
