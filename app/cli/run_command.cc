#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <thread>

#include "app/cli/commands.h"
#include "app/cli/parse_options.h"
#include "app/experiment_runner.h"
#include "app/never_runs.h"
#include "app/output_files.h"
#include "app/progress_line.h"
#include "app/results_writer.h"
#include "core/config.h"
#include "core/errors.h"

namespace po = boost::program_options;

namespace kvlab::cli {

namespace {

// "workload: SOURCE (FORMAT): N rows read, ..." with every row the user gave that does not run.
std::string workload_line(const WorkloadReport& w) {
  std::string line = "workload: " + w.source + " (" + w.format + "): " + std::to_string(w.rows_read) +
                     " rows read, " + std::to_string(w.bad_rows_skipped) + " bad rows skipped, " +
                     std::to_string(w.filtered_prompt_len) + " over max_prompt_len, " +
                     std::to_string(w.filtered_total_len) + " over max_total_len, " +
                     std::to_string(w.beyond_num_requests) + " beyond num_requests";
  if (w.filtered_after_turn > 0) {
    line += ", " + std::to_string(w.filtered_after_turn) +
            " conversation turns after a turn left out";
  }
  for (const auto& [reason, count] : w.dropped_by_format) {
    if (count > 0) line += ", " + std::to_string(count) + " dropped by the format (" + reason + ")";
  }
  return line;
}

// A warning line on stderr per point with requests that can never run; with --strict, an
// error (InputError: exit 1, nothing written) once they are all printed.
void report_rejections(const std::vector<PointRejections>& points, const std::string& verb,
                       bool strict) {
  size_t total = 0, with = 0;
  for (const PointRejections& p : points) {
    if (p.rejected.empty()) continue;
    std::cerr << "kvlab: " << rejection_warning(p, verb) << "\n";
    total += p.rejected.size();
    ++with;
  }
  if (strict && total > 0) {
    throw InputError("--strict", 0, "",
                     std::to_string(total) + " request(s) of " + std::to_string(with) +
                         " point(s) can never run (warnings above); nothing was written");
  }
}

// `kvlab run --check`: every point of the shard validated and its workload read, a line per
// point, nothing run or written.
int check_points(const Config& config, const Shard& shard, int jobs, bool strict) {
  const std::vector<PreparedPoint> points = prepare_experiment(config, shard, true);
  std::vector<PointRejections> never;
  for (const PreparedPoint& p : points) never.push_back(predicted_rejections(p));
  std::printf("%-5s %-8s %-14s %-22s %12s %9s %9s %9s  %s\n", "point", "backend", "model", "memory",
              "kv_slots", "kv_GiB", "requests", "never_run", "label");
  for (size_t i = 0; i < points.size(); ++i) {
    const PreparedPoint& p = points[i];
    const ExperimentConfig& c = p.config;
    const auto& label = memory_policies().entry(c.memory.policy).traits.label;
    const std::string memory = label ? label(c.memory) : c.memory.policy;
    const double gib = static_cast<double>(c.memory.capacity_slots) *
                       static_cast<double>(c.kv_bytes_per_slot_per_gpu()) / (1024.0 * 1024.0 * 1024.0);
    std::printf("%-5zu %-8s %-14s %-22s %12lld %9.2f %9zu %9zu  %s\n", p.point.index,
                c.backend.kind.c_str(), c.model.name.c_str(), memory.c_str(),
                static_cast<long long>(c.memory.capacity_slots), gib,
                static_cast<size_t>(p.num_requests),
                never[i].rejected.size(), p.point.display_label().c_str());
  }
  if (!points.empty()) std::printf("%s\n", workload_line(points.front().workload->report).c_str());
  std::fflush(stdout);
  report_rejections(never, "will be", strict);
  size_t never_total = 0;
  for (const PointRejections& p : never) never_total += p.rejected.size();
  std::printf("check passed: %zu point(s) would run on %d thread(s)", points.size(),
              effective_jobs(points, jobs));
  if (never_total > 0) std::printf(", %zu request(s) can never run (warnings on stderr)", never_total);
  std::printf("; nothing was run or written");
  std::printf("%s\n", any_on_gpu(points) ? " (the cuda back end checks device memory when a point starts)" : "");
  return 0;
}

}  // namespace

int run_command(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description options("kvlab run CONFIG.ini [options]");
  std::vector<std::string> sets;
  std::string out, summary_path, shard = "0/1";
  int jobs = 0;
  options.add_options()("help,h", "this help")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "override a key: --set section.key=value (repeatable; sweep.KEY=a,b sets a sweep axis)")(
      "out", po::value<std::string>(&out), "HDF5 result file (default: output.path)")(
      "summary-json", po::value<std::string>(&summary_path), "also write the summaries as JSON")(
      "jobs,j", po::value<int>(&jobs)->default_value(0),
      "sweep points run in parallel (0: all cores)")(
      "shard", po::value<std::string>(&shard)->default_value("0/1"),
      "run every N-th point starting at I (I/N), for cluster job arrays")(
      "audit", "audit the memory manager after every step (slow; for debugging policies)")(
      "check", "validate every point and read its workload, print the plan, run nothing")(
      "strict",
      "fail (exit 1, nothing written) when a request can never run, instead of warning")(
      "quiet,q", "no progress line and no summary table");
  std::string config_path;
  po::variables_map vm;
  switch (parse_options("kvlab run", args, options, "CONFIG.ini", config_path, vm)) {
    case Parsed::kHelpShown: return 0;
    case Parsed::kUsageError: return 2;
    case Parsed::kRun: break;
  }

  Config config = Config::load(config_path);
  for (const std::string& s : sets) config.set_override(s);
  if (out.empty()) out = config.get_string("output.path");
  if (jobs < 0) throw InputError("--jobs", 0, "", "must not be negative");

  // Where results go is checked before anything runs (and by --check), not after the run.
  std::vector<std::pair<std::string, std::string>> outputs = {{out, "--out"}};
  if (!summary_path.empty()) outputs.emplace_back(summary_path, "--summary-json");
  check_output_paths(outputs);

  RunOptions run;
  run.jobs = jobs > 0 ? jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  run.shard = parse_shard(shard);
  const bool strict = vm.count("strict") > 0;
  if (vm.count("check")) return check_points(config, run.shard, run.jobs, strict);
  // With --strict, the requests predicted never to run stop the run before it starts.
  if (strict) {
    run.before_run = [](const std::vector<PreparedPoint>& points) {
      std::vector<PointRejections> never;
      for (const PreparedPoint& p : points) never.push_back(predicted_rejections(p));
      report_rejections(never, "will be", true);
    };
  }
  run.audit_every_step = vm.count("audit") > 0;
  const bool quiet = vm.count("quiet") > 0;
  ProgressLine progress(stderr, isatty(STDERR_FILENO) != 0);
  if (!quiet) run.progress = [&progress](const RunProgress& p) { progress.running(p); };
  // Both files or neither: each is written to a temporary, and the set is renamed into place
  // only when both are complete, the HDF5 last (app/output_files.h). Points with output.stream
  // write their rows into the HDF5 temporary as they run; the others once all have run.
  OutputSet files;
  size_t shard_points = 0;
  for (size_t i = 0; i < sweep_size(config); ++i) shard_points += run.shard.contains(i) ? 1 : 0;
  ResultsFile results_file(files, out, "--out", ResultsMeta{command_line, config_path}, shard_points,
                           sweep_size(config));
  run.stream = [&results_file](const PreparedPoint& p) {
    return results_file.stream_point(p.point.index);
  };
  const std::vector<RunResult> results = run_experiment(config, run);
  std::vector<PointRejections> never_ran;
  for (const RunResult& r : results) never_ran.push_back(recorded_rejections(r));
  if (strict) {
    progress.finish();
    report_rejections(never_ran, "were", true);  // throws when a run rejected any
  }

  progress.writing_started();
  size_t rows_total = 0, rows_written = 0;
  for (const RunResult& r : results) rows_total += results_rows(r);
  for (const RunResult& r : results) {
    if (r.streamed) continue;
    results_file.write_point(r);
    rows_written += results_rows(r);
    if (!quiet) progress.writing(rows_written, rows_total);
  }
  results_file.close();
  if (!summary_path.empty()) files.add_text(summary_path, "--summary-json", summary_json(results));
  files.commit();
  progress.finish();
  if (!strict) report_rejections(never_ran, "were", false);
  if (!quiet) {
    std::cout << summary_table(results);
    for (const RunResult& r : results) {
      if (!r.has_token_ids) continue;
      char digest[24];
      std::snprintf(digest, sizeof digest, "%016llx", static_cast<unsigned long long>(r.output_digest));
      std::cout << "output_digest " << (r.label.empty() ? "" : r.label + ": ") << digest << "\n";
    }
    int64_t rejected = 0;
    for (const RunResult& r : results) rejected += static_cast<int64_t>(r.summary.get("num_rejected"));
    if (!results.empty()) std::cout << workload_line(results.front().workload) << "\n";
    int64_t streamed = 0;
    for (const RunResult& r : results) streamed += r.streamed ? 1 : 0;
    if (streamed > 0) std::cout << "streamed " << streamed << " point(s): rows written as they ran (output.stream)\n";
    if (rejected > 0) std::cout << "rejected requests (all points): " << rejected << " (reasons in requests/reject_reason)\n";
    std::cout << "wrote " << out << " (" << results.size() << " point" << (results.size() == 1 ? "" : "s")
              << ", " << progress.seconds() << " s)\n";
  }
  return 0;
}

}  // namespace kvlab::cli
