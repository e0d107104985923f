// OutputSet (app/output_files.h): files appear whole or not at all, temporaries never outlive a
// failure or a signal, concurrent writers never break each other, only regular files are
// replaced. Signals are tested in forked children, which die of them.
#include "app/output_files.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/errors.h"

namespace kvlab {
namespace {

namespace fs = std::filesystem;

// A fresh, empty folder for one test.
std::string fresh_folder(const std::string& name) {
  const fs::path dir = fs::path(testing::TempDir()) / ("output_files_" + name);
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

std::string read_text(const std::string& path) {
  std::stringstream s;
  s << std::ifstream(path).rdbuf();
  return s.str();
}

// Runs `body` in a forked child with SIGINT, SIGTERM and SIGHUP at their default action; returns
// the child's wait status. The child exits 0 when `body` returns.
template <typename Body>
int in_child(Body body) {
  const pid_t pid = fork();
  if (pid == 0) {
    for (int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, SIG_DFL);
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(OutputFiles, CommitRenamesEveryFileAndLeavesNoTemporary) {
  const std::string dir = fresh_folder("commit");
  OutputSet set;
  set.add_text(dir + "/a.txt", "--a", "alpha\n");
  set.add_text(dir + "/b.txt", "--b", "beta\n");
  // Before the commit: only temporaries, named after their targets.
  for (const std::string& name : entries(dir)) EXPECT_NE(name.find(".partial."), std::string::npos);
  set.commit();
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"a.txt", "b.txt"}));
  EXPECT_EQ(read_text(dir + "/a.txt"), "alpha\n");
  EXPECT_EQ(read_text(dir + "/b.txt"), "beta\n");
}

TEST(OutputFiles, AnUncommittedSetLeavesNothing) {
  const std::string dir = fresh_folder("uncommitted");
  std::ofstream(dir + "/a.txt") << "old\n";
  {
    OutputSet set;
    set.add_text(dir + "/a.txt", "--a", "new\n");
    set.add_text(dir + "/b.txt", "--b", "new\n");
  }
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"a.txt"}));
  EXPECT_EQ(read_text(dir + "/a.txt"), "old\n");
}

// A failed write of the second file leaves neither (the run's HDF5 and its --summary-json):
// the file size limit makes the write fail for real (EFBIG), as a full disk would.
TEST(OutputFiles, AFailedWriteLeavesNoFileOfTheSet) {
  const std::string dir = fresh_folder("failed_write");
  const int status = in_child([&] {
    std::signal(SIGXFSZ, SIG_IGN);
    OutputSet set;
    set.add_text(dir + "/results.h5", "--out", std::string(1000, 'r'));
    const rlimit limit{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    try {
      set.add_text(dir + "/summary.json", "--summary-json", std::string(100000, 's'));
      _exit(10);  // no error
    } catch (const InputError& e) {
      if (e.source() != dir + "/summary.json" || e.field() != "--summary-json" ||
          e.reason().find("cannot write") == std::string::npos) {
        _exit(11);
      }
    }
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(entries(dir).empty()) << testing::PrintToString(entries(dir));
}

TEST(OutputFiles, ASignalWhileWritingRemovesTheTemporariesAndKillsBySignal) {
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    const std::string dir = fresh_folder("signal_" + std::to_string(sig));
    std::ofstream(dir + "/results.h5") << "previous run\n";
    const int status = in_child([&] {
      OutputSet set;
      set.add_text(dir + "/summary.json", "--summary-json", "{}\n");
      set.add(dir + "/results.h5", "--out");  // being written when the signal comes
      ::kill(::getpid(), sig);
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << "signal " << sig << ": status " << status;
    EXPECT_EQ(WTERMSIG(status), sig);
    EXPECT_EQ(entries(dir), (std::vector<std::string>{"results.h5"})) << "signal " << sig;
    EXPECT_EQ(read_text(dir + "/results.h5"), "previous run\n");
  }
}

// An ignored signal (nohup's SIGHUP) stays ignored: the run goes on and writes its files.
TEST(OutputFiles, AnIgnoredSignalStaysIgnored) {
  const std::string dir = fresh_folder("ignored");
  const int status = in_child([&] {
    std::signal(SIGHUP, SIG_IGN);
    OutputSet set;
    set.add_text(dir + "/a.txt", "--a", "alpha\n");
    ::kill(::getpid(), SIGHUP);
    set.commit();
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"a.txt"}));
}

// Writers of one target never share or delete each other's temporary: every commit succeeds and
// the target is always one writer's complete text.
TEST(OutputFiles, ConcurrentWritersOfOneTargetLeaveOneCompleteFile) {
  const std::string dir = fresh_folder("concurrent");
  const std::string target = dir + "/results.txt";
  std::vector<std::string> texts;
  for (char c : {'a', 'b', 'c', 'd'}) texts.emplace_back(200000, c);
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (const std::string& text : texts) {
    writers.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        try {
          write_file_atomically(target, text, "--out");
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"results.txt"}));
  const std::string result = read_text(target);
  EXPECT_NE(std::find(texts.begin(), texts.end(), result), texts.end()) << result.size();
}

// A folder, a FIFO or a device is refused, and stays what it was.
TEST(OutputFiles, OnlyRegularFilesAreReplaced) {
  const std::string dir = fresh_folder("non_regular");
  fs::create_directory(dir + "/folder");
  ASSERT_EQ(mkfifo((dir + "/fifo").c_str(), 0644), 0);
  std::vector<std::string> targets = {dir + "/folder", dir + "/fifo"};
  if (fs::exists("/dev/full")) targets.push_back("/dev/full");
  for (const std::string& target : targets) {
    try {
      OutputSet set;
      set.add_text(target, "--out", "x");
      set.commit();
      ADD_FAILURE() << target << " was replaced";
    } catch (const InputError& e) {
      EXPECT_EQ(e.source(), target);
      EXPECT_EQ(e.reason(), "exists and is not a regular file: kvlab only replaces files");
    }
    EXPECT_THROW(check_output_path(target, "--out"), InputError) << target;
  }
  EXPECT_TRUE(fs::is_directory(dir + "/folder"));
  EXPECT_TRUE(fs::is_fifo(dir + "/fifo"));
  if (fs::exists("/dev/full")) {
    EXPECT_TRUE(fs::is_character_file("/dev/full"));
  }
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"fifo", "folder"}));
}

// A target that stops being a regular file between add() and commit() is refused then, and no
// file of the set is renamed.
TEST(OutputFiles, ATargetReplacedByAFolderBeforeTheCommitIsRefused) {
  const std::string dir = fresh_folder("changed");
  OutputSet set;
  set.add_text(dir + "/results.h5", "--out", "r");
  set.add_text(dir + "/summary.json", "--summary-json", "s");
  fs::create_directory(dir + "/results.h5");
  EXPECT_THROW(set.commit(), InputError);
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"results.h5"}));
  EXPECT_TRUE(fs::is_directory(dir + "/results.h5"));
}

// A symbolic link is followed: the file it names is replaced (or created) and the link stays.
TEST(OutputFiles, SymbolicLinksAreFollowed) {
  const std::string dir = fresh_folder("symlink");
  fs::create_symlink("real.txt", dir + "/link.txt");
  write_file_atomically(dir + "/link.txt", "one\n");
  EXPECT_TRUE(fs::is_symlink(dir + "/link.txt"));
  EXPECT_EQ(read_text(dir + "/real.txt"), "one\n");
  write_file_atomically(dir + "/link.txt", "two\n");
  EXPECT_TRUE(fs::is_symlink(dir + "/link.txt"));
  EXPECT_EQ(read_text(dir + "/real.txt"), "two\n");
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"link.txt", "real.txt"}));
}

TEST(OutputFiles, OneFileTwiceIsRefused) {
  const std::string dir = fresh_folder("twice");
  fs::create_symlink("a.txt", dir + "/link.txt");
  EXPECT_THROW(
      check_output_paths({{dir + "/a.txt", "--out"}, {dir + "/./a.txt", "--summary-json"}}),
      InputError);
  try {
    check_output_paths({{dir + "/a.txt", "--out"}, {dir + "/link.txt", "--summary-json"}});
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "--summary-json");
    EXPECT_EQ(e.reason(), "is the same file as --out");
  }
  OutputSet set;
  set.add(dir + "/a.txt", "--out");
  EXPECT_THROW(set.add(dir + "/link.txt", "--summary-json"), InputError);
}

TEST(OutputFiles, MissingFoldersAreNamed) {
  try {
    check_output_path("/nonexistent_kvlab/x.h5", "--out");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.reason(), "the folder /nonexistent_kvlab does not exist");
  }
  OutputSet set;
  EXPECT_THROW(set.add("/nonexistent_kvlab/x.h5", "--out"), InputError);
}

}  // namespace
}  // namespace kvlab
