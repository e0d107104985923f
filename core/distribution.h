// Summary arithmetic whose answer does not depend on the order values arrive in: an exact sum
// and a distribution with exact percentiles that can hold more values than memory should.
//
// Why: a run's summary must be the same whether its requests and steps are kept in memory
// and summed at the end, or streamed as they end (output.stream, app/results_writer.h), when
// the order differs (requests end out of order; a cluster's replicas run ahead of each
// other). A naive double sum changes in its last bits with the order; these do not.
#pragma once

#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <vector>

namespace kvlab {

// A sum of doubles independent of their order: each finite value is held as a 128-bit fixed
// point number in units of 2^-64 (truncated toward zero below that: 5.4e-20), summed exactly,
// and rounded to double once at the end. NaN, +inf and -inf are counted and give the IEEE sum
// of them. Sums beyond +-2^62 (4.6e18, far past any time or token count kvlab adds up) fall
// back to a double sum in arrival order, which is then order-dependent.
class ExactSum {
 public:
  void add(double x);
  void add(const ExactSum& other);
  double value() const;

 private:
  __int128 fixed_ = 0;
  double naive_ = 0;  // the same sum as doubles: the value when fixed point overflowed
  bool overflow_ = false;
  bool nan_ = false;
  bool pos_inf_ = false;
  bool neg_inf_ = false;
};

// The values of one distribution (time to first token of finished requests, inter-token
// gaps, batch sizes, ...), added in any order, with their count, exact mean (ExactSum) and
// exact percentiles: numpy's default, linear interpolation between the order statistics of
// the sorted values, as vLLM's benchmark_serving computes them. T is double or float (a
// float distribution holds values that are floats already: ITL gaps, batch sizes).
//
// The first `memory_values` values stay in memory; past that, values go in blocks to an
// unnamed temporary file (tmpfile(3): $TMPDIR is not consulted, P_tmpdir is; removed when
// closed), and percentiles are found by a radix selection over the file: 16 bits of the
// value's order-preserving key per pass (4 passes for double, 2 for float), a 65,536-entry
// histogram each, so memory stays flat whatever the count. Both ways find the same order
// statistics, so the answer is the same bit for bit. A write or read failure of the
// temporary file throws std::runtime_error naming it.
template <typename T>
class Distribution {
 public:
  static constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();

  explicit Distribution(int64_t memory_values = kUnlimited);
  ~Distribution();
  Distribution(const Distribution& other);
  Distribution& operator=(const Distribution& other);
  Distribution(Distribution&& other) noexcept;
  Distribution& operator=(Distribution&& other) noexcept;

  void add(T value);
  void add(const Distribution& other);  // every value of `other`
  int64_t size() const { return count_; }
  bool spilled() const { return spill_ != nullptr; }
  // NaN when empty.
  double mean() const;
  // p in [0, 100]; NaN when empty.
  double percentile(double p) const;
  // The value of rank k (0-based) in ascending order. REQUIRES: k < size().
  T order_statistic(int64_t k) const;

 private:
  // Calls f(data, n) over every value, spilled blocks first.
  template <typename F>
  void scan(F&& f) const;
  void spill_memory();  // writes memory_ to the file
  void sort_memory() const;

  int64_t memory_values_;
  int64_t count_ = 0;
  ExactSum sum_;
  mutable std::vector<T> memory_;
  mutable bool sorted_ = true;
  std::FILE* spill_ = nullptr;
  int64_t spilled_ = 0;  // values in the file
};

extern template class Distribution<double>;
extern template class Distribution<float>;

}  // namespace kvlab
