// Helpers for end-to-end tests: run the CLI, read HDF5 columns, write small files.
#pragma once

#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace kvlab::e2e {

inline std::string source_path(const std::string& rel) { return std::string(KVLAB_SOURCE_DIR) + "/" + rel; }
inline std::string kvlab_binary() { return std::string(KVLAB_BINARY_DIR) + "/bin/kvlab"; }

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string temp_path(const std::string& name) {
  std::string dir = testing::TempDir();
  if (!dir.empty() && dir.back() != '/') dir += '/';
  return dir + name;
}

inline void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

inline bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

// Checks that the generated block of the doc at `rel` (the lines between the marker lines
// `begin` and `end`, each ending in a newline) is `expected`, the output of `command`: how a
// doc's tables are kept equal to what the program prints (docs/config.md, results-format.md).
inline void expect_generated_block(const std::string& rel, const std::string& begin,
                                   const std::string& end, const std::string& expected,
                                   const std::string& command) {
  const std::string path = source_path(rel);
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  const std::string doc = text.str();
  const size_t at = doc.find(begin);
  ASSERT_NE(at, std::string::npos) << path << " lacks the line " << begin;
  const size_t from = at + begin.size();
  const size_t to = doc.find(end, from);
  ASSERT_NE(to, std::string::npos) << path << " lacks the line " << end;
  EXPECT_EQ(doc.substr(from, to - from), expected)
      << path << " disagrees with `" << command << "`: replace the lines between its markers "
      << "with that command's output";
}

// Reads a 1-D numeric dataset as doubles; empty when absent.
inline std::vector<double> read_column(const std::string& file, const std::string& path) {
  std::vector<double> out;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return out;
  hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  if (d >= 0) {
    hid_t space = H5Dget_space(d);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space, &n, nullptr);
    out.resize(n);
    if (n) H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
    H5Sclose(space);
    H5Dclose(d);
  }
  H5Fclose(f);
  return out;
}

inline double read_attr(const std::string& file, const std::string& object, const std::string& name) {
  double v = -1;
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return v;
  hid_t a = H5Aopen_by_name(f, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
  }
  H5Fclose(f);
  return v;
}

// Every dataset of a file (path -> FNV-1a hash of its values), for comparing two files
// contents regardless of when or how they were written.
inline herr_t hash_dataset(hid_t root, const char* name, const H5O_info_t* info, void* out) {
  if (info->type != H5O_TYPE_DATASET) return 0;
  auto& map = *static_cast<std::map<std::string, uint64_t>*>(out);
  hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
  hid_t type = H5Dget_type(d);
  hid_t space = H5Dget_space(d);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const void* data, size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  };
  if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0) {
    std::vector<char*> strings(static_cast<size_t>(n));
    if (n) H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, strings.data());
    for (char* str : strings) mix(str, str ? std::char_traits<char>::length(str) + 1 : 0);
    if (n) H5Dvlen_reclaim(type, space, H5P_DEFAULT, strings.data());
  } else {
    std::vector<unsigned char> bytes(static_cast<size_t>(n) * H5Tget_size(type));
    if (n) H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
    mix(bytes.data(), bytes.size());
  }
  map[name] = h;
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(d);
  return 0;
}

inline std::map<std::string, uint64_t> dataset_hashes(const std::string& file) {
  std::map<std::string, uint64_t> out;
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return out;
  H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, hash_dataset, &out);
  H5Fclose(f);
  return out;
}

}  // namespace kvlab::e2e
