// Output files that appear whole or not at all, and only where a regular file may be replaced.
//
// An OutputSet holds the files one command writes (`kvlab run`: the HDF5 results and the
// summary JSON). Each is written to a temporary created exclusively next to its target,
// TARGET.partial.PID.RANDOM, so two runs writing the same target never share, truncate or
// delete each other's temporary. commit() then
//   1. checks again that no target has become something other than a regular file,
//   2. fsyncs every temporary,
//   3. renames them into place in the reverse order they were added: the first file added
//      (the HDF5 results, the file that scripts and `kvlab merge` wait for) appears last, once
//      every other file of the set is in place;
//   4. fsyncs the targets' folders.
// Commits into the same folder are serialised by an advisory lock (flock) on the folder, so two
// concurrent runs with the same targets leave one run's complete set, not a mix of both. If
// anything fails before the renames, no target is touched; if a rename fails, the targets this
// commit had already renamed are removed (the earlier files at those paths are gone too), so a
// set is never half new. Every temporary not renamed is removed, by commit() on failure or by
// the destructor.
//
// Signals: while an OutputSet holds temporaries, SIGINT, SIGTERM and SIGHUP (those whose action
// is the default; an ignored signal stays ignored) remove every temporary of the process and
// then end it by the same signal, so its exit status still says "killed by signal". A signal
// that arrives during the renames is held until they are done: the set is complete, then the
// process dies. SIGKILL cannot be caught: it may leave a TARGET.partial.* file, which no reader
// opens and which may be deleted.
//
// A target that is a symbolic link is followed: the regular file it names is replaced and the
// link stays. A target that exists as anything else (a folder, a device such as /dev/full, a
// FIFO, a socket) is refused, never replaced.
//
// Thread safety: an OutputSet is used by one thread; several may exist at once, holding at most
// kMaxTemporaries temporaries in the process together.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace kvlab {

// Checks, before anything runs, that a result can be written to `path`: its folder exists and
// is writable, and `path` is absent, a regular file, or a symbolic link to one. Throws
// InputError naming the path and `option` (--out, --summary-json).
void check_output_path(const std::string& path, const std::string& option);

// check_output_path for each (path, option), and no two paths naming the same file.
void check_output_paths(const std::vector<std::pair<std::string, std::string>>& paths);

class OutputSet {
 public:
  static constexpr size_t kMaxTemporaries = 16;

  OutputSet() = default;
  ~OutputSet();  // removes every temporary not renamed into place
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;

  // Creates an empty temporary for `target` and returns its path, for the caller to write (it
  // may truncate and rewrite it, not rename or remove it). Throws InputError naming `target` and
  // `option` when the target is not replaceable, is already in this set, or no temporary can
  // be created in its folder.
  std::string add(const std::string& target, const std::string& option);

  // add(), then writes `text` to the temporary. Throws InputError when the write fails.
  void add_text(const std::string& target, const std::string& option, const std::string& text);

  // Renames every temporary into place (see the top of this file). Throws InputError when a
  // target is refused or a temporary cannot be flushed or renamed; the set is then empty.
  // REQUIRES: commit() has not been called.
  void commit();

 private:
  struct File {
    std::string path;    // as the user gave it, for messages
    std::string target;  // `path` with a symbolic link followed
    std::string option;
    std::string temp;
    size_t slot;  // where the signal handler finds `temp`
  };
  void discard();
  std::vector<File> files_;
};

// Writes `text` to `path` whole or not at all (an OutputSet of one file).
void write_file_atomically(const std::string& path, const std::string& text,
                           const std::string& option = "");

}  // namespace kvlab
