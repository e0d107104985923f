#include "app/output_files.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>

#include "core/errors.h"

namespace kvlab {

namespace fs = std::filesystem;

namespace {

// --- The temporaries a signal removes ---------------------------------------------------------
//
// The handler may only call async-signal-safe functions, so the temporaries' paths live in a
// fixed table of slots written before the file is created; the handler reads the slots marked
// used and unlink()s their paths. The mutex guards taking and freeing slots and installing the
// handlers; the handler never takes it.

struct TempSlot {
  std::atomic<bool> used{false};
  char path[PATH_MAX];
};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the signal handler reads these");

TempSlot g_slots[OutputSet::kMaxTemporaries];
std::atomic<int> g_committing{0};      // commits renaming now: a signal is held, not acted on
std::atomic<int> g_pending_signal{0};  // the signal held during a commit
std::mutex g_mutex;
size_t g_slots_used = 0;
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
bool g_installed[std::size(kSignals)] = {};

void unlink_registered() {
  for (TempSlot& s : g_slots) {
    if (s.used.load(std::memory_order_acquire)) ::unlink(s.path);
  }
}

// Ends the process by `sig` with its default action, so its exit status says so.
void die_by(int sig) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  ::raise(sig);  // blocked inside the handler: delivered as soon as it returns
}

void on_signal(int sig) {
  const int saved_errno = errno;
  if (g_committing.load() > 0) {
    g_pending_signal.store(sig);
  } else {
    unlink_registered();
    die_by(sig);
  }
  errno = saved_errno;
}

// REQUIRES: g_mutex held.
void install_handlers() {
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    struct sigaction old {};
    if (::sigaction(kSignals[i], nullptr, &old) != 0) continue;
    // An ignored signal stays ignored (nohup); a handler of the embedding program stays too.
    if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) continue;
    struct sigaction act {};
    act.sa_handler = on_signal;
    sigemptyset(&act.sa_mask);
    for (int s : kSignals) sigaddset(&act.sa_mask, s);
    act.sa_flags = SA_RESTART;
    g_installed[i] = ::sigaction(kSignals[i], &act, nullptr) == 0;
  }
}

// REQUIRES: g_mutex held.
void restore_handlers() {
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    if (!g_installed[i]) continue;
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(kSignals[i], &dfl, nullptr);
    g_installed[i] = false;
  }
}

// REQUIRES: g_mutex held, a slot free, temp.size() < PATH_MAX.
size_t take_slot(const std::string& temp) {
  for (size_t i = 0; i < std::size(g_slots); ++i) {
    if (g_slots[i].used.load()) continue;
    std::memcpy(g_slots[i].path, temp.c_str(), temp.size() + 1);
    g_slots[i].used.store(true, std::memory_order_release);
    if (++g_slots_used == 1) install_handlers();
    return i;
  }
  return std::size(g_slots);
}

void free_slot(size_t i) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_slots[i].used.store(false, std::memory_order_release);
  if (--g_slots_used == 0) restore_handlers();
}

// Blocks the signals above in this thread for its lifetime, so that a temporary is created and
// registered as one step.
class SignalsHeld {
 public:
  SignalsHeld() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : kSignals) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~SignalsHeld() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalsHeld(const SignalsHeld&) = delete;
  SignalsHeld& operator=(const SignalsHeld&) = delete;

 private:
  sigset_t old_;
};

// --- Paths -------------------------------------------------------------------------------------

std::string folder_of(const std::string& target) {
  const fs::path folder = fs::path(target).parent_path();
  return folder.empty() ? std::string(".") : folder.string();
}

// `path`, or the file it names when it is a symbolic link (followed hop by hop, so a link to a
// file not yet written names where it will be).
std::string resolve_target(const std::string& path, const std::string& option) {
  fs::path p(path);
  for (int hops = 0; hops < 40; ++hops) {
    std::error_code error;
    if (!fs::is_symlink(fs::symlink_status(p, error))) return p.string();
    const fs::path next = fs::read_symlink(p, error);
    if (error)
      throw InputError(path, 0, option, "cannot read the symbolic link: " + error.message());
    p = next.is_absolute() ? next : p.parent_path() / next;
  }
  throw InputError(path, 0, option, "too many levels of symbolic links");
}

// Throws unless `target` (no symbolic link) is absent or a regular file.
void check_replaceable(const std::string& target, const std::string& path,
                       const std::string& option) {
  struct stat st {};
  if (::lstat(target.c_str(), &st) != 0) return;  // absent (or unreadable: the rename will say)
  if (!S_ISREG(st.st_mode)) {
    throw InputError(path, 0, option,
                     "exists and is not a regular file: kvlab only replaces files");
  }
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code error;
  const fs::path ca = fs::weakly_canonical(fs::absolute(a, error), error);
  const fs::path cb = fs::weakly_canonical(fs::absolute(b, error), error);
  return ca == cb;
}

// TARGET.partial.PID.RANDOM, in the target's folder (the name cut to stay under NAME_MAX).
std::string temp_name(const std::string& target) {
  static std::mutex mutex;
  static std::mt19937_64 random(std::random_device{}() ^ static_cast<uint64_t>(::getpid()));
  uint64_t r;
  {
    std::lock_guard<std::mutex> lock(mutex);
    r = random();
  }
  const fs::path t(target);
  std::string name = t.filename().string();
  if (name.size() > 200) name.resize(200);
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, ".partial.%ld.%012llx", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(r & 0xffffffffffffULL));
  return (t.parent_path() / (name + suffix)).string();
}

std::string error_text(int error) { return std::strerror(error); }

// The targets' folders, locked (flock, advisory, best effort: a folder on a file system that
// does not lock is not locked) in one order so two commits cannot deadlock; fsync()ed on demand.
// Held for the renames only, a few milliseconds.
class FolderLocks {
 public:
  explicit FolderLocks(const std::set<fs::path>& folders) {
    for (const fs::path& folder : folders) {
      const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) continue;
      // Another kvlab's commit holds it for milliseconds; a lock held far longer is someone
      // else's, and the renames go ahead without it rather than hang.
      for (int tries = 0; tries < 3000 && ::flock(fd, LOCK_EX | LOCK_NB) != 0; ++tries) {
        if (errno != EWOULDBLOCK && errno != EINTR) break;
        ::usleep(10000);
      }
      fds_.push_back(fd);
    }
  }
  ~FolderLocks() {
    for (int fd : fds_) ::close(fd);  // releases the lock
  }
  FolderLocks(const FolderLocks&) = delete;
  FolderLocks& operator=(const FolderLocks&) = delete;
  // Makes the renames durable. Best effort: they are done, and some file systems refuse.
  void sync() {
    for (int fd : fds_) ::fsync(fd);
  }

 private:
  std::vector<int> fds_;
};

}  // namespace

void check_output_path(const std::string& path, const std::string& option) {
  if (path.empty()) throw InputError(option, 0, "", "empty output path");
  const std::string target = resolve_target(path, option);
  const std::string folder = folder_of(target);
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    throw InputError(path, 0, option, "the folder " + folder + " does not exist");
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    throw InputError(path, 0, option, "the folder " + folder + " is not writable");
  }
  check_replaceable(target, path, option);
}

void check_output_paths(const std::vector<std::pair<std::string, std::string>>& paths) {
  for (size_t i = 0; i < paths.size(); ++i) {
    check_output_path(paths[i].first, paths[i].second);
    for (size_t j = 0; j < i; ++j) {
      if (same_file(resolve_target(paths[i].first, paths[i].second),
                    resolve_target(paths[j].first, paths[j].second))) {
        throw InputError(paths[i].first, 0, paths[i].second,
                         "is the same file as " + paths[j].second);
      }
    }
  }
}

OutputSet::~OutputSet() { discard(); }

std::string OutputSet::add(const std::string& path, const std::string& option) {
  if (path.empty()) throw InputError(option, 0, "", "empty output path");
  const std::string target = resolve_target(path, option);
  check_replaceable(target, path, option);
  for (const File& f : files_) {
    if (same_file(f.target, target)) {
      throw InputError(path, 0, option, "is the same file as " + f.option);
    }
  }
  for (int attempt = 0;; ++attempt) {
    const std::string temp = temp_name(target);
    if (temp.size() >= PATH_MAX) throw InputError(path, 0, option, "the path is too long");
    int error = 0;
    {
      // Created and registered with the signals held, so that no signal finds the file
      // unregistered (left behind) or the slot registered for someone else's file.
      SignalsHeld held;
      std::lock_guard<std::mutex> lock(g_mutex);
      if (g_slots_used == std::size(g_slots)) {
        throw InputError(
            path, 0, option,
            "too many output files at once (at most " + std::to_string(kMaxTemporaries) + ")");
      }
      const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) {
        ::close(fd);
        files_.push_back(File{path, target, option, temp, take_slot(temp)});
        return temp;
      }
      error = errno;
    }
    if (error == EEXIST && attempt < 16) continue;  // another writer's name: draw again
    throw InputError(
        path, 0, option,
        "cannot create a temporary file in " + folder_of(target) + ": " + error_text(error));
  }
}

void OutputSet::add_text(const std::string& path, const std::string& option,
                         const std::string& text) {
  const std::string temp = add(path, option);
  int error = 0;
  const int fd = ::open(temp.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    error = errno;
  } else {
    for (size_t done = 0; done < text.size() && error == 0;) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno != EINTR) {
        error = errno;
      }
    }
    if (::close(fd) != 0 && error == 0) error = errno;
  }
  if (error != 0) {
    File& last = files_.back();
    ::unlink(last.temp.c_str());
    free_slot(last.slot);
    files_.pop_back();
    throw InputError(path, 0, option, "cannot write: " + error_text(error));
  }
}

void OutputSet::commit() {
  std::set<fs::path> folders;
  try {
    for (const File& f : files_) {
      const int fd = ::open(f.temp.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || (::fsync(fd) != 0 && errno != EINVAL)) {
        const int error = errno;
        if (fd >= 0) ::close(fd);
        throw InputError(f.path, 0, f.option, "cannot flush to disk: " + error_text(error));
      }
      ::close(fd);
      std::error_code error;
      folders.insert(fs::weakly_canonical(fs::absolute(folder_of(f.target), error), error));
    }
  } catch (...) {
    discard();
    throw;
  }

  FolderLocks locks(folders);
  g_committing.fetch_add(1);
  // Checked again under the lock: a target may have changed since add().
  std::string failure;
  const File* failed = nullptr;
  for (const File& f : files_) {
    try {
      check_replaceable(f.target, f.path, f.option);
    } catch (const InputError& e) {
      failure = e.reason();
      failed = &f;
      break;
    }
  }
  std::vector<std::string> renamed;
  for (size_t k = files_.size(); failed == nullptr && k-- > 0;) {
    File& f = files_[k];
    if (::rename(f.temp.c_str(), f.target.c_str()) != 0) {
      failure = "cannot rename the finished file into place: " + error_text(errno);
      failed = &f;
      break;
    }
    renamed.push_back(f.target);
    free_slot(f.slot);
    f.temp.clear();
  }
  if (failed != nullptr) {
    for (const std::string& target : renamed) ::unlink(target.c_str());
  }
  locks.sync();
  g_committing.fetch_sub(1);
  if (const int sig = g_pending_signal.exchange(0); sig != 0) {
    unlink_registered();
    die_by(sig);
  }
  if (failed != nullptr) {
    const InputError error(failed->path, 0, failed->option, failure);
    discard();
    throw error;
  }
  files_.clear();
}

void OutputSet::discard() {
  for (File& f : files_) {
    if (f.temp.empty()) continue;
    ::unlink(f.temp.c_str());
    free_slot(f.slot);
  }
  files_.clear();
}

void write_file_atomically(const std::string& path, const std::string& text,
                           const std::string& option) {
  OutputSet outputs;
  outputs.add_text(path, option, text);
  outputs.commit();
}

}  // namespace kvlab
