// The kvlab subcommands. Each takes the arguments after its name and returns the exit code:
// 0 success, 1 bad input (the message names file, line and field), 2 bad usage.
#pragma once

#include <string>
#include <vector>

namespace kvlab::cli {

int run_command(const std::vector<std::string>& args, const std::string& command_line);
int list_command(const std::vector<std::string>& args);
int trace_command(const std::vector<std::string>& args);
int bench_sim_command(const std::vector<std::string>& args);
int report_command(const std::vector<std::string>& args);
int calibrate_command(const std::vector<std::string>& args);
int profile_command(const std::vector<std::string>& args);
int fidelity_command(const std::vector<std::string>& args);
int merge_command(const std::vector<std::string>& args, const std::string& command_line);

}  // namespace kvlab::cli
