// kvlab report RESULTS.h5 [--out DIR]: a markdown report with summary tables and PNG plots,
// drawn by the project's Python script (scripts/kvlab_report.py: h5py + matplotlib, installed
// by the bootstrap). This command only finds the interpreter and the script and runs them.
// The interpreter is the one CMake found (KVLAB_PYTHON), or $KVLAB_PYTHON when set (a machine
// whose Python with h5py is elsewhere, such as a GPU machine running a carried build).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "app/cli/commands.h"

namespace kvlab::cli {

int report_command(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << "usage: kvlab report RESULTS.h5 [--out DIR] [--title TEXT]\n";
    return 2;
  }
  const std::string script = std::string(KVLAB_SOURCE_DIR) + "/scripts/kvlab_report.py";
  const char* python_env = std::getenv("KVLAB_PYTHON");
  const std::string python = python_env != nullptr && *python_env != '\0' ? python_env : KVLAB_PYTHON;
  std::vector<std::string> argv_strings = {python, script};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv.data());
    std::cerr << "kvlab report: cannot run " << argv[0] << " (run scripts/bootstrap.sh)\n";
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return 3;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

}  // namespace kvlab::cli
