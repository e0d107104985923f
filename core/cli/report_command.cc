// kvlab report RESULTS.h5 [--out DIR]: a markdown report with summary tables and PNG plots,
// drawn by the project's Python script (scripts/kvlab_report.py: h5py + matplotlib, installed
// by the bootstrap). This command only finds the interpreter and the script and runs them.
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "core/cli/commands.h"

namespace kvlab::cli {

int report_command(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << "usage: kvlab report RESULTS.h5 [--out DIR] [--title TEXT]\n";
    return 2;
  }
  const std::string script = std::string(KVLAB_SOURCE_DIR) + "/scripts/kvlab_report.py";
  std::vector<std::string> argv_strings = {KVLAB_PYTHON, script};
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
