#include "app/progress_line.h"

#include <chrono>

namespace kvlab {

std::string format_duration(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600,
                  static_cast<int>(s) % 3600 / 60);
  }
  return buf;
}

ProgressLine::ProgressLine(std::FILE* out, bool tty, std::function<double()> clock)
    : out_(out), tty_(tty), clock_(std::move(clock)) {
  if (!clock_) {
    const auto start = std::chrono::steady_clock::now();
    clock_ = [start] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
  }
}

double ProgressLine::seconds() const { return clock_(); }

void ProgressLine::running(const RunProgress& p) {
  if (p.engine_time_s > 0) sim_s_ = p.engine_time_s;
  const bool last = p.points_done == p.points_total;
  if (!due(last)) return;
  const double elapsed = seconds();
  const double frac =
      p.requests_total > 0 ? static_cast<double>(p.requests_done) / p.requests_total : 1.0;
  std::string eta = "ETA --";
  if (frac > 0) {
    const double run_left = last ? 0.0 : elapsed * (1 - frac) / frac;
    const double steps_total = static_cast<double>(p.steps) / frac;
    const double write =
        (static_cast<double>(p.requests_total) + steps_total) * kWriteSecondsPerRow;
    eta = "ETA " + format_duration(run_left + write) + " (writing ~" + format_duration(write) + ")";
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "[kvlab] points %zu/%zu  requests %lld/%lld (%.0f%%)  simulated %s  elapsed %s  ",
                p.points_done, p.points_total, static_cast<long long>(p.requests_done),
                static_cast<long long>(p.requests_total), 100 * frac,
                format_duration(sim_s_).c_str(), format_duration(elapsed).c_str());
  print(line + eta);
}

void ProgressLine::writing_started() { write_start_ = seconds(); }

void ProgressLine::writing(size_t rows_written, size_t rows_total) {
  const bool last = rows_written == rows_total;
  if (!due(last)) return;
  const double elapsed = seconds();
  const double spent = elapsed - write_start_;
  const double left = rows_written > 0 && spent > 0
                          ? spent * static_cast<double>(rows_total - rows_written) /
                                static_cast<double>(rows_written)
                          : static_cast<double>(rows_total - rows_written) * kWriteSecondsPerRow;
  char line[256];
  std::snprintf(line, sizeof line,
                "[kvlab] writing results: rows %zu/%zu (%.0f%%)  %.0f rows/s  elapsed %s  ETA %s",
                rows_written, rows_total,
                rows_total > 0
                    ? 100.0 * static_cast<double>(rows_written) / static_cast<double>(rows_total)
                    : 100.0,
                spent > 0 ? static_cast<double>(rows_written) / spent : 0.0,
                format_duration(elapsed).c_str(), format_duration(left).c_str());
  print(line);
}

void ProgressLine::finish() {
  if (shown_ && tty_) std::fprintf(out_, "\n");
  shown_ = false;  // a later line starts afresh, and a second finish() adds nothing
  std::fflush(out_);
}

bool ProgressLine::due(bool end_of_phase) {
  const double elapsed = seconds();
  if (elapsed < 2.0) return false;
  const double interval = tty_ ? 0.1 : 5.0;
  if (elapsed - last_print_ < interval && !end_of_phase) return false;
  last_print_ = elapsed;
  return true;
}

void ProgressLine::print(const std::string& line) {
  // On a terminal: back to the line's start, and clear what a longer line left behind.
  if (tty_) {
    std::fprintf(out_, "\r%s\033[K", line.c_str());
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
  shown_ = true;
}

}  // namespace kvlab
