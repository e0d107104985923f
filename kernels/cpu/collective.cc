#include "kernels/cpu/collective.h"

#include <chrono>
#include <string>

#include "core/errors.h"

namespace kvlab::cpu {

void AbortableBarrier::arrive_and_wait() {
  std::unique_lock lock(mu_);
  if (aborted_) throw CollectiveAborted();
  if (++arrived_ == count_) {
    arrived_ = 0;
    ++round_;
    cv_.notify_all();
    return;
  }
  const uint64_t round = round_;
  cv_.wait(lock, [&] { return round_ != round || aborted_; });
  if (round_ == round) throw CollectiveAborted();
}

void AbortableBarrier::abort() {
  {
    const std::lock_guard lock(mu_);
    aborted_ = true;
  }
  cv_.notify_all();
}

class SharedMemoryGroup::Rank : public Communicator {
 public:
  Rank(SharedMemoryGroup& group, int32_t rank) : group_(group), rank_(rank) {}
  int32_t rank() const override { return rank_; }
  int32_t size() const override { return group_.size(); }
  double seconds() const override { return seconds_; }

  void all_reduce_sum(MatrixRef buffer) override {
    const Timer timer(seconds_);
    post(buffer);
    // This rank's share: a band of rows, summed over the ranks in rank order, then written
    // back to every rank's buffer.
    const int32_t n = size();
    const Eigen::Index first = buffer.rows() * rank_ / n;
    const Eigen::Index last = buffer.rows() * (rank_ + 1) / n;
    if (last > first) {
      RowMatrix sum = view(0).middleRows(first, last - first);
      for (int32_t r = 1; r < n; ++r) sum += view(r).middleRows(first, last - first);
      for (int32_t r = 0; r < n; ++r) view(r).middleRows(first, last - first) = sum;
    }
    group_.barrier_.arrive_and_wait();
  }

  void all_gather_columns(MatrixRef buffer, std::span<const Eigen::Index> offsets) override {
    const Timer timer(seconds_);
    const int32_t n = size();
    bool ok = offsets.size() == static_cast<size_t>(n) + 1 && offsets.front() == 0 &&
              offsets.back() == buffer.cols();
    for (size_t i = 1; ok && i < offsets.size(); ++i) ok = offsets[i - 1] <= offsets[i];
    check_invariant(ok, "all_gather_columns: offsets do not split the buffer's " +
                            std::to_string(buffer.cols()) + " columns into " + std::to_string(n) +
                            " blocks");
    post(buffer);
    // This rank's block goes to every other rank's buffer (each block has one writer).
    const auto mine = static_cast<size_t>(rank_);
    const Eigen::Index first = offsets[mine];
    const Eigen::Index cols = offsets[mine + 1] - first;
    if (cols > 0) {
      for (int32_t r = 0; r < n; ++r) {
        if (r != rank_) view(r).middleCols(first, cols) = buffer.middleCols(first, cols);
      }
    }
    group_.barrier_.arrive_and_wait();
  }

 private:
  // Adds the seconds of its scope to `total`.
  class Timer {
   public:
    explicit Timer(double& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
    ~Timer() {
      total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

   private:
    double& total_;
    std::chrono::steady_clock::time_point start_;
  };

  // Publishes `buffer` and waits for every rank's; every rank checks every shape, so a
  // mismatch is refused on all of them alike (none is left waiting).
  void post(MatrixRef buffer) {
    group_.posted_[static_cast<size_t>(rank_)] =
        Posted{buffer.data(), buffer.rows(), buffer.cols(), buffer.outerStride()};
    group_.barrier_.arrive_and_wait();
    for (const Posted& p : group_.posted_) {
      check_invariant(p.rows == buffer.rows() && p.cols == buffer.cols(),
                      "collective: ranks passed buffers of different shapes");
    }
  }

  StridedMatrixMap view(int32_t r) const {
    const Posted& p = group_.posted_[static_cast<size_t>(r)];
    return StridedMatrixMap(p.data, p.rows, p.cols, Eigen::OuterStride<>(p.stride));
  }

  SharedMemoryGroup& group_;
  int32_t rank_;
  double seconds_ = 0.0;
};

SharedMemoryGroup::SharedMemoryGroup(int32_t size)
    : barrier_(size), posted_(static_cast<size_t>(size > 0 ? size : 0)) {
  check_invariant(size >= 1, "SharedMemoryGroup: needs at least one rank");
  for (int32_t r = 0; r < size; ++r) ranks_.push_back(std::make_unique<Rank>(*this, r));
}

SharedMemoryGroup::~SharedMemoryGroup() = default;

Communicator& SharedMemoryGroup::rank(int32_t r) { return *ranks_[static_cast<size_t>(r)]; }

}  // namespace kvlab::cpu
