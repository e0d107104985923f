// kvlab: replay LLM-serving traces through KV-cache memory managers and schedulers.
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "app/builtins.h"
#include "app/cli/commands.h"
#include "app/results_writer.h"
#include "core/errors.h"
#include "core/suggest.h"

namespace {

const char* kUsage =
    "usage: kvlab <command> [options]\n"
    "\n"
    "commands:\n"
    "  run CONFIG.ini [--set section.key=value]... [--out PATH.h5] [--summary-json PATH]\n"
    "                        run an experiment (every point of its [sweep]); writes HDF5\n"
    "  calibrate CONFIG.ini [--set section.key=value]... [--out FIT.json]\n"
    "                        run on a real back end (cpu, cuda) and fit the simulator's\n"
    "                        roofline efficiencies and step overhead to the measured steps\n"
    "  profile CONFIG.ini --out PROFILE.json [--set section.key=value]...\n"
    "                        time a real back end's operators over a grid: a profile for\n"
    "                        backend.cost_model = profiled\n"
    "  fidelity CONFIG.ini [--profile PROFILE.json] [--out REPORT.json]\n"
    "                        run on the real back end and on the profiled simulator; report\n"
    "                        step, throughput and latency errors and the memory identity\n"
    "  merge OUT.h5 SHARD.h5...\n"
    "                        join the shards of a sweep run with --shard I/N\n"
    "  report RESULTS.h5 [--out DIR]\n"
    "                        markdown report with summary tables and plots\n"
    "  list [policies|schedulers|models|hardware|formats|backends|keys]\n"
    "                        what kvlab knows, by name\n"
    "  trace stats FILE [--format F]\n"
    "                        count, mean / p50 / p90 / max lengths, span and rate of a trace\n"
    "  bench-sim [--trace FILE] [--requests N] [--policy P]...\n"
    "                        simulator speed: requests per minute replayed at saturation\n"
    "\n"
    "'kvlab <command> --help' describes a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  kvlab::skip_hdf5_teardown_at_exit();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string command_line = "kvlab";
  for (const std::string& a : args) command_line += " " + a;
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    kvlab::register_builtins();
    if (command == "run") return kvlab::cli::run_command(args, command_line);
    if (command == "calibrate") return kvlab::cli::calibrate_command(args);
    if (command == "profile") return kvlab::cli::profile_command(args);
    if (command == "fidelity") return kvlab::cli::fidelity_command(args);
    if (command == "list") return kvlab::cli::list_command(args);
    if (command == "trace") return kvlab::cli::trace_command(args);
    if (command == "bench-sim") return kvlab::cli::bench_sim_command(args);
    if (command == "merge") return kvlab::cli::merge_command(args, command_line);
    if (command == "report") return kvlab::cli::report_command(args);
    std::cerr << "kvlab: "
              << kvlab::unknown_name_message("command", command,
                                             {"run", "calibrate", "profile", "fidelity", "merge", "report", "list", "trace",
                                              "bench-sim"})
              << "\n\n"
              << kUsage;
    return 2;
  } catch (const kvlab::InputError& e) {
    std::cerr << "kvlab: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "kvlab: internal error: " << e.what() << "\n";
    return 3;
  }
}
