// The progress line of `kvlab run` on stderr: two phases, running the points and writing the
// results file, each with an ETA; the running phase's ETA includes the writing still to come
// (a large sweep spends as long writing its HDF5 file as simulating).
//
// On a terminal the line is rewritten in place (at most ten times a second); elsewhere (a log
// file, a batch job) one line is printed every five seconds and at the end of each phase.
// Nothing is printed in the first two seconds, so quick runs stay silent. Not thread-safe:
// the caller serializes calls (RunOptions::progress is called under a lock).
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>

#include "app/experiment_runner.h"

namespace kvlab {

// Seconds the HDF5 writer takes per row (a request or a step, results_rows) before a run has
// written any: the first guess of the writing phase's length. Measured on the 2-vCPU AMD EPYC
// of docs/performance.md (2026-12-05): experiments/latency_vs_rate_sharegpt.ini, 40 points,
// 3.7 M rows written in 17 s (~216,000 rows/s); 30,731 ShareGPT requests x 2 points, 0.89 M
// rows in 4.4 s (~201,000 rows/s). Once a point is written the measured rate replaces it.
inline constexpr double kWriteSecondsPerRow = 5e-6;

// "12.3s", "4m05s", "2h31m".
std::string format_duration(double seconds);

class ProgressLine {
 public:
  // `clock` returns seconds since an arbitrary start (empty: a steady clock from now).
  ProgressLine(std::FILE* out, bool tty, std::function<double()> clock = {});

  // Running phase: points and requests done, simulated time, elapsed, and the ETA of the run
  // plus the writing (rows: requests plus the steps extrapolated from those recorded so far,
  // at kWriteSecondsPerRow).
  void running(const RunProgress& p);
  // The writing phase starts now.
  void writing_started();
  // Writing phase: rows written of all (results_rows), their rate, and the ETA at that rate.
  void writing(size_t rows_written, size_t rows_total);
  // Ends the in-place line on a terminal with a newline (once: nothing when nothing is shown).
  void finish();
  // Seconds since the line was created.
  double seconds() const;

 private:
  bool due(bool end_of_phase);
  void print(const std::string& line);

  std::FILE* out_;
  bool tty_;
  std::function<double()> clock_;
  bool shown_ = false;
  double last_print_ = -100;
  double sim_s_ = 0;
  double write_start_ = 0;
};

}  // namespace kvlab
