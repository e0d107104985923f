// The folder layering of docs/architecture.md, checked over every source file: a file may
// include (with a path, `#include "folder/..."`) only from the folders its own folder may use.
// core/ is the contract and includes nothing above it; the implementations (policies/, sim/,
// traces/, kernels/) include core/ and their own folder, and only kernels/cuda/ includes
// kernels/cuda/ (a build without CUDA compiles everything else); app/ may include everything
// below it. tests/ and experiments/ may include everything and are not checked.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace kvlab {
namespace {

namespace fs = std::filesystem;

struct Layer {
  std::string folder;                 // relative to the source root, with a trailing '/'
  std::vector<std::string> may_use;  // include prefixes, with a trailing '/'
  std::vector<std::string> except;   // prefixes of may_use that it may not use
};

// The most specific folder first.
const std::vector<Layer> kLayers = {
    {"core/", {"core/"}, {}},
    {"policies/", {"core/", "policies/"}, {}},
    {"sim/", {"core/", "sim/"}, {}},
    {"traces/", {"core/", "traces/"}, {}},
    {"kernels/cuda/", {"core/", "kernels/"}, {}},
    {"kernels/", {"core/", "kernels/"}, {"kernels/cuda/"}},
    {"app/", {"core/", "policies/", "sim/", "traces/", "kernels/", "app/"}, {}},
};

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

TEST(Layering, EveryIncludeComesFromAFolderBelowOrBeside) {
  const fs::path root = KVLAB_SOURCE_DIR;
  std::vector<std::string> violations;
  int files = 0;
  for (const Layer& layer : kLayers) {
    const fs::path dir = root / layer.folder;
    ASSERT_TRUE(fs::is_directory(dir)) << dir;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".h" && ext != ".cc" && ext != ".cu" && ext != ".cuh")) {
        continue;
      }
      const std::string rel = fs::relative(entry.path(), root).generic_string();
      // A file belongs to the most specific layer that holds it.
      const Layer* own = nullptr;
      for (const Layer& l : kLayers) {
        if (starts_with(rel, l.folder)) {
          own = &l;
          break;
        }
      }
      if (own != &layer) continue;
      ++files;
      std::ifstream in(entry.path());
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        const std::string directive = "#include \"";
        if (!starts_with(line, directive)) continue;
        const std::string included = line.substr(directive.size(), line.find('"', directive.size()) - directive.size());
        if (included.find('/') == std::string::npos) continue;  // beside the file
        bool allowed = false;
        for (const std::string& prefix : layer.may_use) allowed = allowed || starts_with(included, prefix);
        for (const std::string& prefix : layer.except) allowed = allowed && !starts_with(included, prefix);
        if (!allowed) violations.push_back(rel + ":" + std::to_string(n) + ": " + included);
      }
    }
  }
  EXPECT_GT(files, 100);
  std::string listed;
  for (const std::string& v : violations) listed += "  " + v + "\n";
  EXPECT_TRUE(violations.empty()) << "includes across the layering of docs/architecture.md:\n"
                                  << listed;
}

}  // namespace
}  // namespace kvlab
