// `kvlab run` and `kvlab merge` outputs through the CLI (issue 15, item 7): concurrent runs with
// the same --out, a run killed by SIGTERM before and while it writes, a write that fails, and
// targets that are not regular files. Whatever happens, a folder holds complete results or
// none, and never a temporary.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/e2e/e2e_util.h"

namespace kvlab {
namespace {

namespace fs = std::filesystem;
using e2e::run_command;

std::string kvlab() { return e2e::kvlab_binary(); }

// A one-point run of `requests` synthetic requests (no trace: the size is exact).
std::string run_args(int requests) {
  return " run " + e2e::source_path("experiments/quickstart.ini") +
         " -q --set workload.trace= --set workload.arrival=poisson --set workload.rate=1000"
         " --set workload.prompt_len=64 --set workload.output_len=8"
         " --set sweep.memory.policy=paged --set workload.num_requests=" +
         std::to_string(requests);
}

std::string fresh_folder(const std::string& name) {
  const fs::path dir = fs::path(testing::TempDir()) / ("cli_output_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool has_temporary(const std::string& dir) {
  const auto names = entries(dir);
  return std::any_of(names.begin(), names.end(),
                     [](const std::string& n) { return n.find(".partial") != std::string::npos; });
}

// `command` in the background (sh -c 'exec ...', so the pid is kvlab's), output discarded.
pid_t spawn_quiet(const std::string& command) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, SIG_DFL);
    execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// The point's num_requests in both files of a run, which must agree.
int64_t requests_in(const std::string& h5, const std::string& json) {
  const double in_h5 = e2e::read_attr(h5, "points/0000", "num_requests");
  const auto doc = nlohmann::json::parse(std::ifstream(json));
  EXPECT_EQ(doc.at(0).at("num_requests").get<double>(), in_h5) << "the two files of one set";
  return static_cast<int64_t>(in_h5);
}

// Four runs at once with the same --out and --summary-json: all succeed, and the folder holds
// one run's complete pair (not a mix) and no temporary.
TEST(CliOutput, ConcurrentRunsWithTheSameOutLeaveOneCompleteSet) {
  const std::string dir = fresh_folder("concurrent");
  std::string script;
  for (int i = 1; i <= 4; ++i) {
    const std::string run = kvlab() + run_args(2000 + i);
    script +=
        "(" + run + " --out " + dir + "/r.h5 --summary-json " + dir + "/r.json; echo exit $?) & ";
  }
  const auto r = run_command("sh -c '" + script + "wait'");
  size_t ok = 0;
  for (size_t at = 0; (at = r.output.find("exit 0", at)) != std::string::npos; ++at) ++ok;
  EXPECT_EQ(ok, 4u) << r.output;
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"r.h5", "r.json"}));
  const int64_t n = requests_in(dir + "/r.h5", dir + "/r.json");
  EXPECT_TRUE(n >= 2001 && n <= 2004) << n;
  EXPECT_EQ(e2e::read_column(dir + "/r.h5", "points/0000/requests/id").size(),
            static_cast<size_t>(n));
}

// SIGTERM while the files are being written (seen as the temporary appearing) and during the
// run: the process dies by the signal and leaves no temporary and no result; a rerun writes
// one complete set.
TEST(CliOutput, SigtermLeavesNoTemporaryAndARerunWritesOneSet) {
  const std::string dir = fresh_folder("sigterm");
  const std::string command =
      kvlab() + run_args(60000) + " --out " + dir + "/r.h5 --summary-json " + dir + "/r.json";

  const pid_t writing = spawn_quiet(command);
  bool seen = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!seen && std::chrono::steady_clock::now() < give_up) {
    if (waitpid(writing, nullptr, WNOHANG) == writing) break;  // ended before writing: fails
    seen = has_temporary(dir);
    if (!seen) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_TRUE(seen) << "the run ended (or took 2 min) before its temporary was seen";
  kill(writing, SIGTERM);
  const int status = wait_for(writing);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_TRUE(entries(dir).empty()) << testing::PrintToString(entries(dir));

  const pid_t running = spawn_quiet(command);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(running, SIGTERM);
  const int early = wait_for(running);
  ASSERT_TRUE(WIFSIGNALED(early)) << early;
  EXPECT_TRUE(entries(dir).empty()) << testing::PrintToString(entries(dir));

  const auto rerun = run_command(command);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"r.h5", "r.json"}));
  EXPECT_EQ(requests_in(dir + "/r.h5", dir + "/r.json"), 60000);
}

// A write that fails (here the file size limit, as a full disk would) is a clean error, exit 1,
// and leaves neither file.
TEST(CliOutput, AFailedWriteLeavesNoFile) {
  const std::string dir = fresh_folder("failed_write");
  const auto r =
      run_command("sh -c \"trap '' XFSZ; ulimit -f 64; exec " + kvlab() + run_args(2000) +
                  " --out " + dir + "/r.h5 --summary-json " + dir + "/r.json\"");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(dir + "/r.h5: field '--out': cannot write"), std::string::npos)
      << r.output;
  EXPECT_TRUE(entries(dir).empty()) << testing::PrintToString(entries(dir));
}

// /dev/full, a FIFO and a folder as --out or --summary-json, and one file as both, are refused
// before the run (the trace, which does not exist, is never read) and stay what they were.
TEST(CliOutput, TargetsThatAreNotRegularFilesAreRefusedBeforeTheRun) {
  const std::string dir = fresh_folder("refused");
  ASSERT_EQ(mkfifo((dir + "/fifo").c_str(), 0644), 0);
  fs::create_directory(dir + "/folder");
  const std::string base = kvlab() + run_args(10) + " --set workload.trace=/nonexistent/t.csv ";
  std::vector<std::pair<std::string, std::string>> cases = {
      {"--out " + dir + "/fifo",
       dir + "/fifo: field '--out': exists and is not a regular file: kvlab only replaces files"},
      {"--out " + dir + "/folder", dir + "/folder: field '--out': exists and is not a regular"},
      {"--out " + dir + "/r.h5 --summary-json " + dir + "/fifo",
       dir + "/fifo: field '--summary-json': exists and is not a regular file"},
      {"--out " + dir + "/r.h5 --summary-json " + dir + "/r.h5",
       dir + "/r.h5: field '--summary-json': is the same file as --out"},
  };
  if (fs::exists("/dev/full")) {
    cases.push_back({"--out /dev/full", "/dev/full: field '--out': exists and is not a regular"});
    cases.push_back({"--out " + dir + "/r.h5 --summary-json /dev/full",
                     "/dev/full: field '--summary-json': exists and is not a regular"});
  }
  for (const auto& [options, expected] : cases) {
    const auto r = run_command(base + options);
    EXPECT_EQ(r.exit_code, 1) << options << "\n" << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("t.csv"), std::string::npos) << "the run started:\n" << r.output;
  }
  EXPECT_TRUE(fs::is_fifo(dir + "/fifo"));
  EXPECT_TRUE(fs::is_directory(dir + "/folder"));
  if (fs::exists("/dev/full")) {
    EXPECT_TRUE(fs::is_character_file("/dev/full"));
  }
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"fifo", "folder"}));
}

// `kvlab merge` follows the same rules: a FIFO or /dev/full as OUT is refused before the
// shards are read; a merge leaves the merged file and no temporary.
TEST(CliOutput, MergeWritesOnlyRegularFilesAndNoTemporary) {
  const std::string dir = fresh_folder("merge");
  const std::string sweep = kvlab() + run_args(300) + " --set sweep.memory.block_size=8,32 ";
  ASSERT_EQ(run_command(sweep + "--shard 0/2 --out " + dir + "/s0.h5").exit_code, 0);
  ASSERT_EQ(run_command(sweep + "--shard 1/2 --out " + dir + "/s1.h5").exit_code, 0);
  ASSERT_EQ(mkfifo((dir + "/fifo").c_str(), 0644), 0);
  const std::string shards = " " + dir + "/s0.h5 " + dir + "/s1.h5";
  for (const std::string& out : {dir + "/fifo", std::string("/dev/full")}) {
    if (!fs::exists(out)) continue;
    const auto r = run_command(kvlab() + " merge " + out + shards);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(out + ": field 'OUT.h5': exists and is not a regular file"),
              std::string::npos)
        << r.output;
  }
  EXPECT_TRUE(fs::is_fifo(dir + "/fifo"));
  const auto merge = run_command(kvlab() + " merge " + dir + "/m.h5" + shards);
  ASSERT_EQ(merge.exit_code, 0) << merge.output;
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"fifo", "m.h5", "s0.h5", "s1.h5"}));
  EXPECT_EQ(e2e::read_column(dir + "/m.h5", "points/0001/requests/id").size(), 300u);
}

}  // namespace
}  // namespace kvlab
