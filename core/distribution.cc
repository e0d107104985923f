#include "core/distribution.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace kvlab {

void ExactSum::add(double x) {
  if (std::isnan(x)) {
    nan_ = true;
    return;
  }
  if (std::isinf(x)) {
    (x > 0 ? pos_inf_ : neg_inf_) = true;
    return;
  }
  naive_ += x;
  if (overflow_) return;
  constexpr double kLimit = 4611686018427387904.0;  // 2^62
  if (std::fabs(x) >= kLimit) {
    overflow_ = true;
    return;
  }
  const auto v = static_cast<__int128>(std::ldexp(x, 64));  // |v| < 2^126
  const __int128 bound = static_cast<__int128>(1) << 126;
  if (__builtin_add_overflow(fixed_, v, &fixed_) || fixed_ >= bound || fixed_ <= -bound) {
    overflow_ = true;
  }
}

void ExactSum::add(const ExactSum& other) {
  naive_ += other.naive_;
  nan_ = nan_ || other.nan_;
  pos_inf_ = pos_inf_ || other.pos_inf_;
  neg_inf_ = neg_inf_ || other.neg_inf_;
  overflow_ = overflow_ || other.overflow_;
  if (overflow_) return;
  const __int128 bound = static_cast<__int128>(1) << 126;
  if (__builtin_add_overflow(fixed_, other.fixed_, &fixed_) || fixed_ >= bound ||
      fixed_ <= -bound) {
    overflow_ = true;
  }
}

double ExactSum::value() const {
  if (nan_ || (pos_inf_ && neg_inf_)) return std::numeric_limits<double>::quiet_NaN();
  if (pos_inf_) return std::numeric_limits<double>::infinity();
  if (neg_inf_) return -std::numeric_limits<double>::infinity();
  if (overflow_) return naive_;
  return std::ldexp(static_cast<double>(fixed_), -64);
}

namespace {

constexpr size_t kBlockValues = size_t{1} << 16;

// An unsigned key per value, in the values' order (IEEE: flip every bit of a negative, the
// sign bit of a positive).
template <typename T>
using Key = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;

template <typename T>
Key<T> to_key(T v) {
  Key<T> bits;
  std::memcpy(&bits, &v, sizeof bits);
  constexpr Key<T> sign = Key<T>{1} << (8 * sizeof(T) - 1);
  return (bits & sign) ? static_cast<Key<T>>(~bits) : static_cast<Key<T>>(bits | sign);
}

template <typename T>
T from_key(Key<T> key) {
  constexpr Key<T> sign = Key<T>{1} << (8 * sizeof(T) - 1);
  const Key<T> bits = (key & sign) ? static_cast<Key<T>>(key & ~sign) : static_cast<Key<T>>(~key);
  T v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

[[noreturn]] void spill_failure(const char* what) {
  throw std::runtime_error(std::string("summary spill file (tmpfile): ") + what + ": " +
                           std::strerror(errno));
}

}  // namespace

template <typename T>
Distribution<T>::Distribution(int64_t memory_values)
    : memory_values_(std::max<int64_t>(1, memory_values)) {}

template <typename T>
Distribution<T>::~Distribution() {
  if (spill_) std::fclose(spill_);
}

template <typename T>
Distribution<T>::Distribution(const Distribution& other) : memory_values_(other.memory_values_) {
  add(other);
}

template <typename T>
Distribution<T>& Distribution<T>::operator=(const Distribution& other) {
  if (this != &other) {
    Distribution copy(other);
    *this = std::move(copy);
  }
  return *this;
}

template <typename T>
Distribution<T>::Distribution(Distribution&& other) noexcept
    : memory_values_(other.memory_values_),
      count_(other.count_),
      sum_(other.sum_),
      memory_(std::move(other.memory_)),
      sorted_(other.sorted_),
      spill_(other.spill_),
      spilled_(other.spilled_) {
  other.spill_ = nullptr;
  other.count_ = 0;
  other.spilled_ = 0;
  other.memory_.clear();
  other.sum_ = ExactSum{};
}

template <typename T>
Distribution<T>& Distribution<T>::operator=(Distribution&& other) noexcept {
  if (this == &other) return *this;
  if (spill_) std::fclose(spill_);
  memory_values_ = other.memory_values_;
  count_ = other.count_;
  sum_ = other.sum_;
  memory_ = std::move(other.memory_);
  sorted_ = other.sorted_;
  spill_ = other.spill_;
  spilled_ = other.spilled_;
  other.spill_ = nullptr;
  other.count_ = 0;
  other.spilled_ = 0;
  other.memory_.clear();
  other.sum_ = ExactSum{};
  return *this;
}

template <typename T>
void Distribution<T>::add(T value) {
  ++count_;
  sum_.add(static_cast<double>(value));
  memory_.push_back(value);
  sorted_ = memory_.size() == 1;
  if (static_cast<int64_t>(memory_.size()) >= memory_values_ &&
      memory_values_ != kUnlimited) {
    spill_memory();
  }
}

template <typename T>
void Distribution<T>::add(const Distribution& other) {
  other.scan([this](const T* data, size_t n) {
    for (size_t i = 0; i < n; ++i) add(data[i]);
  });
}

template <typename T>
void Distribution<T>::spill_memory() {
  if (memory_.empty()) return;
  if (!spill_) {
    spill_ = std::tmpfile();
    if (!spill_) spill_failure("cannot create");
  }
  const int fd = fileno(spill_);
  const char* data = reinterpret_cast<const char*>(memory_.data());
  size_t left = memory_.size() * sizeof(T);
  off_t at = static_cast<off_t>(spilled_) * static_cast<off_t>(sizeof(T));
  while (left > 0) {
    const ssize_t w = ::pwrite(fd, data, left, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) spill_failure("write failed");
    data += w;
    left -= static_cast<size_t>(w);
    at += w;
  }
  spilled_ += static_cast<int64_t>(memory_.size());
  memory_.clear();
  sorted_ = true;
}

template <typename T>
template <typename F>
void Distribution<T>::scan(F&& f) const {
  if (spill_) {
    std::vector<T> block(kBlockValues);
    const int fd = fileno(spill_);
    int64_t done = 0;
    while (done < spilled_) {
      const size_t want = static_cast<size_t>(std::min<int64_t>(spilled_ - done, kBlockValues));
      size_t got = 0;
      while (got < want * sizeof(T)) {
        const ssize_t r = ::pread(fd, reinterpret_cast<char*>(block.data()) + got,
                                  want * sizeof(T) - got,
                                  static_cast<off_t>(done) * static_cast<off_t>(sizeof(T)) +
                                      static_cast<off_t>(got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) spill_failure("read failed");
        got += static_cast<size_t>(r);
      }
      f(static_cast<const T*>(block.data()), want);
      done += static_cast<int64_t>(want);
    }
  }
  if (!memory_.empty()) f(static_cast<const T*>(memory_.data()), memory_.size());
}

template <typename T>
void Distribution<T>::sort_memory() const {
  if (sorted_) return;
  std::sort(memory_.begin(), memory_.end());
  sorted_ = true;
}

template <typename T>
double Distribution<T>::mean() const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  return sum_.value() / static_cast<double>(count_);
}

template <typename T>
T Distribution<T>::order_statistic(int64_t k) const {
  if (!spill_) {
    sort_memory();
    return memory_[static_cast<size_t>(k)];
  }
  // Radix selection: the key's bits 16 at a time from the top, each pass counting the values
  // that agree with the bits found so far.
  constexpr int kBits = 8 * sizeof(T);
  Key<T> prefix = 0;
  int known = 0;
  std::vector<int64_t> histogram(size_t{1} << 16);
  while (known < kBits) {
    std::fill(histogram.begin(), histogram.end(), 0);
    const int shift = kBits - known - 16;
    scan([&](const T* data, size_t n) {
      for (size_t i = 0; i < n; ++i) {
        const Key<T> key = to_key(data[i]);
        if (known > 0 && (key >> (kBits - known)) != prefix) continue;
        ++histogram[static_cast<size_t>((key >> shift) & 0xffff)];
      }
    });
    size_t digit = 0;
    for (; digit + 1 < histogram.size() && k >= histogram[digit]; ++digit) k -= histogram[digit];
    prefix = static_cast<Key<T>>((known == 0 ? Key<T>{0} : static_cast<Key<T>>(prefix << 16)) |
                                 static_cast<Key<T>>(digit));
    known += 16;
  }
  return from_key<T>(prefix);
}

template <typename T>
double Distribution<T>::percentile(double p) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  const double rank = p / 100.0 * static_cast<double>(count_ - 1);
  const auto lo = static_cast<int64_t>(std::floor(rank));
  const int64_t hi = std::min(count_ - 1, lo + 1);
  const double frac = rank - static_cast<double>(lo);
  const double lo_v = static_cast<double>(order_statistic(lo));
  const double hi_v = hi == lo ? lo_v : static_cast<double>(order_statistic(hi));
  return lo_v + (hi_v - lo_v) * frac;
}

template class Distribution<double>;
template class Distribution<float>;

}  // namespace kvlab
