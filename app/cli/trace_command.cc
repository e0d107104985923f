// kvlab trace stats FILE [--format F] [--columns MAP] [--arrival-unit U] [--plot OUT.png]:
// counts, percentiles and log-spaced histograms of a trace's prompt and output lengths
// (traces/trace_stats.h); --plot draws the histograms with scripts/kvlab_trace_plot.py
// (matplotlib, the interpreter `kvlab report` uses: KVLAB_PYTHON).
#include <sys/wait.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cli/parse_options.h"
#include "core/errors.h"
#include "traces/trace_stats.h"

namespace po = boost::program_options;

namespace kvlab::cli {

namespace {

constexpr const char* kUsage =
    "usage: kvlab trace stats FILE [--format F] [--columns MAP] [--arrival-unit U] "
    "[--plot OUT.png]\n";

nlohmann::ordered_json length_json(const LengthStats& s) {
  nlohmann::ordered_json j;
  j["mean"] = s.mean;
  j["min"] = s.min;
  j["p50"] = s.p50;
  j["p90"] = s.p90;
  j["p99"] = s.p99;
  j["max"] = s.max;
  j["bins"] = nlohmann::ordered_json::array();
  for (const HistogramBin& b : s.histogram) j["bins"].push_back({b.lo, b.hi, b.count});
  return j;
}

// Runs the plotting script on the statistics; its exit status (127: no interpreter).
int plot_stats(const TraceStats& stats, const std::string& out) {
  nlohmann::ordered_json j;
  j["path"] = stats.path;
  j["format"] = stats.format;
  j["count"] = stats.count;
  j["prompt"] = length_json(stats.prompt);
  j["output"] = length_json(stats.output);
  char temp[] = "/tmp/kvlab_trace_stats_XXXXXX";
  const int fd = mkstemp(temp);
  if (fd < 0) throw InputError("--plot", 0, "", "cannot create a temporary file");
  close(fd);
  std::ofstream(temp) << j.dump(1) << "\n";
  const std::string script = std::string(KVLAB_SOURCE_DIR) + "/scripts/kvlab_trace_plot.py";
  const char* python_env = std::getenv("KVLAB_PYTHON");
  std::string python = python_env != nullptr && *python_env != '\0' ? python_env : KVLAB_PYTHON;
  std::vector<std::string> argv_strings = {python, script, temp, out};
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::cout.flush();
  const pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv.data());
    std::cerr << "kvlab trace stats: cannot run " << argv[0] << " (run scripts/bootstrap.sh)\n";
    _exit(127);
  }
  int status = 0;
  const bool waited = pid > 0 && waitpid(pid, &status, 0) >= 0;
  std::remove(temp);
  if (!waited) return 3;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

}  // namespace

int trace_command(const std::vector<std::string>& args) {
  po::options_description options("kvlab trace stats FILE [options]");
  std::string format = "auto", plot;
  TraceReadOptions read;
  options.add_options()("help,h", "this help")(
      "format", po::value<std::string>(&format)->default_value("auto"),
      "trace format (kvlab list formats)")(
      "columns", po::value<std::string>(&read.columns),
      "formats csv and jsonl: 'arrival:NAME, prompt:NAME, output:NAME' (as workload.columns)")(
      "arrival-unit", po::value<std::string>(&read.arrival_unit)->default_value("s"),
      "unit of the arrival column: s, ms or us (as workload.arrival_unit)")(
      "plot", po::value<std::string>(&plot), "also draw the histograms into this PNG (matplotlib)");
  if (args.empty() || args[0] != "stats") {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << kUsage;
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  std::string file;
  po::variables_map vm;
  switch (parse_options("kvlab trace stats", rest, options, "FILE", file, vm)) {
    case Parsed::kHelpShown:
      return 0;
    case Parsed::kUsageError:
      return 2;
    case Parsed::kRun:
      break;
  }
  const TraceStats stats = compute_trace_stats(file, format, read);
  std::cout << format_trace_stats(stats);
  if (plot.empty()) return 0;
  const int status = plot_stats(stats, plot);
  if (status == 0) std::cout << "wrote " << plot << "\n";
  return status;
}

}  // namespace kvlab::cli
