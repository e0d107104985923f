#include "app/results_writer.h"

#include <hdf5.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <type_traits>
#include <variant>
#include <vector>

#include "core/config_keys.h"
#include "core/errors.h"
#include "core/results_schema.h"

namespace kvlab {

namespace {

// RAII for HDF5 identifiers.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t), const std::string& what) : id_(id), close_(close) {
    if (id_ < 0) throw std::runtime_error("HDF5: cannot " + what);
  }
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  // Gives up the identifier (the caller closes it).
  hid_t release() {
    const hid_t id = id_;
    id_ = -1;
    return id;
  }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void check(herr_t status, const std::string& what) {
  if (status < 0) throw std::runtime_error("HDF5: cannot " + what);
}

template <typename T>
hid_t native_type();
template <>
hid_t native_type<double>() {
  return H5T_NATIVE_DOUBLE;
}
template <>
hid_t native_type<float>() {
  return H5T_NATIVE_FLOAT;
}
template <>
hid_t native_type<int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
hid_t native_type<int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
hid_t native_type<int8_t>() {
  return H5T_NATIVE_INT8;
}
template <>
hid_t native_type<uint64_t>() {
  return H5T_NATIVE_UINT64;
}

// Large columns are chunked and compressed; small ones are contiguous.
hid_t column_properties(hsize_t n) {
  hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
  if (n >= 4096 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
    const hsize_t chunk = std::min<hsize_t>(n, 65536);
    H5Pset_chunk(plist, 1, &chunk);
    H5Pset_shuffle(plist);
    H5Pset_deflate(plist, 4);
  }
  return plist;
}

template <typename T>
void write_column(hid_t group, const std::string& name, const std::vector<T>& values) {
  const hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose, "create dataspace");
  Handle plist(column_properties(n), H5Pclose, "create properties");
  Handle set(H5Dcreate2(group, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                        plist.get(), H5P_DEFAULT),
             H5Dclose, "create dataset " + name);
  if (n > 0) {
    check(H5Dwrite(set.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
          "write " + name);
  }
}

hid_t string_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

// The C strings HDF5's variable-length string writes take (pointing into `values`).
std::vector<const char*> c_strings(const std::vector<std::string>& values) {
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const std::string& v : values) ptrs.push_back(v.c_str());
  return ptrs;
}

void write_string_column(hid_t group, const std::string& name,
                         const std::vector<std::string>& values) {
  const hsize_t n = values.size();
  const std::vector<const char*> ptrs = c_strings(values);
  Handle type(string_type(), H5Tclose, "create string type");
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose, "create dataspace");
  Handle set(H5Dcreate2(group, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT),
             H5Dclose, "create dataset " + name);
  if (n > 0)
    check(H5Dwrite(set.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
          "write " + name);
}

void attr_string(hid_t object, const std::string& name, const std::string& value) {
  Handle type(string_type(), H5Tclose, "create string type");
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, "create dataspace");
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose, "create attribute " + name);
  const char* p = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &p), "write attribute " + name);
}

void attr_strings(hid_t object, const std::string& name, const std::vector<std::string>& values) {
  const hsize_t n = values.size();
  const std::vector<const char*> ptrs = c_strings(values);
  Handle type(string_type(), H5Tclose, "create string type");
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose, "create dataspace");
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose, "create attribute " + name);
  if (n > 0) check(H5Awrite(attr.get(), type.get(), ptrs.data()), "write attribute " + name);
}

// h5py's (and numpy's) bool: an int8 enum whose members are FALSE = 0 and TRUE = 1.
void attr_bool(hid_t object, const std::string& name, bool value) {
  Handle type(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose, "create bool type");
  const int8_t f = 0, t = 1;
  check(H5Tenum_insert(type.get(), "FALSE", &f), "create bool type");
  check(H5Tenum_insert(type.get(), "TRUE", &t), "create bool type");
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, "create dataspace");
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose, "create attribute " + name);
  const int8_t v = value ? 1 : 0;
  check(H5Awrite(attr.get(), type.get(), &v), "write attribute " + name);
}

template <typename T>
void attr_number(hid_t object, const std::string& name, T value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, "create dataspace");
  Handle attr(
      H5Acreate2(object, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose, "create attribute " + name);
  check(H5Awrite(attr.get(), native_type<T>(), &value), "write attribute " + name);
}

// A config value as its key declares it (the value was checked against the declaration when
// the experiment was resolved): int64, float64, bool or string.
void attr_config(hid_t object, const std::string& key, const std::string& value) {
  const KeySpec* spec = config_keys().find(key);
  const KeyType type = spec ? spec->type : KeyType::kString;
  if (type == KeyType::kInt && !value.empty()) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(value.c_str(), &end, 10);
    if (*end == '\0' && errno == 0) return attr_number<int64_t>(object, key, v);
  } else if (type == KeyType::kFloat && !value.empty()) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(value.c_str(), &end);
    if (*end == '\0' && errno == 0) return attr_number<double>(object, key, v);
  } else if (type == KeyType::kBool) {
    // The spellings Config::get_bool takes.
    for (const char* yes : {"true", "yes", "on", "1"}) {
      if (value == yes) return attr_bool(object, key, true);
    }
    for (const char* no : {"false", "no", "off", "0"}) {
      if (value == no) return attr_bool(object, key, false);
    }
  }
  attr_string(object, key, value);  // text, a choice, or a value its declaration would refuse
}

hid_t make_group(hid_t parent, const std::string& name) {
  return H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

template <typename T>
constexpr ValueType value_type_of() {
  if constexpr (std::is_same_v<T, int8_t>) return ValueType::kInt8;
  if constexpr (std::is_same_v<T, int32_t>) return ValueType::kInt32;
  if constexpr (std::is_same_v<T, int64_t>) return ValueType::kInt64;
  if constexpr (std::is_same_v<T, uint64_t>) return ValueType::kUint64;
  if constexpr (std::is_same_v<T, float>) return ValueType::kFloat32;
  if constexpr (std::is_same_v<T, double>) return ValueType::kFloat64;
  if constexpr (std::is_same_v<T, std::string>) return ValueType::kString;
}

// The schema's type of `f` is the C++ type the writer holds: a mismatch is a bug here.
template <typename T>
void require_type(const FieldSpec& f) {
  if (f.type != value_type_of<T>()) {
    throw InvariantError(std::string("results schema: ") + f.name + " is " +
                         value_type_name(f.type) + ", written as " +
                         value_type_name(value_type_of<T>()));
  }
}

template <typename T>
void write_dataset(hid_t group, const FieldSpec& f, const std::vector<T>& values) {
  require_type<T>(f);
  if constexpr (std::is_same_v<T, std::string>) {
    write_string_column(group, f.name, values);
  } else {
    write_column(group, f.name, values);
  }
}

void write_attribute(hid_t object, const FieldSpec& f, const std::string& value) {
  require_type<std::string>(f);
  attr_string(object, f.name, value);
}

template <typename T>
void write_attribute(hid_t object, const FieldSpec& f, T value) {
  require_type<T>(f);
  attr_number<T>(object, f.name, value);
}

// Calls f(T{}) with T the C++ type the writer holds a value of type `t` in.
template <typename F>
void with_cpp_type(ValueType t, F&& f) {
  switch (t) {
    case ValueType::kInt8:
      return f(int8_t{});
    case ValueType::kInt32:
      return f(int32_t{});
    case ValueType::kInt64:
      return f(int64_t{});
    case ValueType::kUint64:
      return f(uint64_t{});
    case ValueType::kFloat32:
      return f(float{});
    case ValueType::kFloat64:
      return f(double{});
    case ValueType::kString:
      return f(std::string{});
  }
}

template <typename T>
T cell_as(const Cell& v) {
  if constexpr (std::is_same_v<T, double> || std::is_same_v<T, std::string>) {
    return std::get<T>(v);
  } else if constexpr (std::is_same_v<T, float>) {
    return static_cast<float>(std::get<double>(v));
  } else {
    return static_cast<T>(std::get<int64_t>(v));
  }
}

// Every column of `columns` over `rows`, one dataset each, in order.
template <typename Row>
void write_table(hid_t group, std::span<const ColumnSpec<Row>> columns,
                 const std::vector<Row>& rows) {
  for (const ColumnSpec<Row>& c : columns) {
    with_cpp_type(c.field.type, [&](auto type) {
      using T = decltype(type);
      std::vector<T> values;
      values.reserve(rows.size());
      for (const Row& r : rows) values.push_back(cell_as<T>(c.get(r)));
      write_dataset(group, c.field, values);
    });
  }
}

// Every column of `columns` of the one row `row`, as attributes of `object`.
template <typename Row>
void write_attributes(hid_t object, std::span<const ColumnSpec<Row>> columns, const Row& row) {
  for (const ColumnSpec<Row>& c : columns) {
    with_cpp_type(c.field.type, [&](auto type) {
      write_attribute(object, c.field, cell_as<decltype(type)>(c.get(row)));
    });
  }
}

void write_requests(hid_t point, const RunResult& p) {
  Handle g(make_group(point, results::kRequestsGroup), H5Gclose, "create group requests");
  write_table(g.get(), request_columns(), p.requests);
  write_attribute(g.get(), results::kOutcomeCodes, std::string(results::kOutcomeCodesValue));
  std::vector<float> itl;
  std::vector<int64_t> itl_offsets{0};
  itl_offsets.reserve(p.requests.size() + 1);
  size_t gaps = 0;
  for (const RequestRecord& x : p.requests) gaps += x.itl_s.size();
  itl.reserve(gaps);
  for (const RequestRecord& x : p.requests) {
    itl.insert(itl.end(), x.itl_s.begin(), x.itl_s.end());
    itl_offsets.push_back(static_cast<int64_t>(itl.size()));
  }
  write_dataset(g.get(), results::kItl, itl);
  write_dataset(g.get(), results::kItlOffsets, itl_offsets);
  if (p.has_token_ids) {
    std::vector<int32_t> ids, sample_of;
    std::vector<int64_t> offsets{0}, request_of;
    for (const RequestRecord& x : p.requests) {
      for (size_t s = 0; s < x.token_ids.size(); ++s) {
        ids.insert(ids.end(), x.token_ids[s].begin(), x.token_ids[s].end());
        offsets.push_back(static_cast<int64_t>(ids.size()));
        request_of.push_back(x.id);
        sample_of.push_back(static_cast<int32_t>(s));
      }
    }
    write_dataset(g.get(), results::kTokenIds, ids);
    write_dataset(g.get(), results::kTokenOffsets, offsets);
    write_dataset(g.get(), results::kTokenRequest, request_of);
    write_dataset(g.get(), results::kTokenSample, sample_of);
  }
}

void write_steps(hid_t point, const RunResult& p) {
  Handle g(make_group(point, results::kStepsGroup), H5Gclose, "create group steps");
  write_table(g.get(), step_columns(), p.steps);
  require_type<double>(results::kCostColumn);
  for (size_t t = 0; t < p.term_names.size(); ++t) {
    std::vector<double> seconds;
    seconds.reserve(p.steps.size());
    for (const StepRecord& x : p.steps) seconds.push_back(t < x.terms.size() ? x.terms[t] : 0.0);
    write_column(g.get(), cost_column(p.term_names[t]), seconds);
  }
}

void write_replicas(hid_t point, const RunResult& p) {
  Handle g(make_group(point, results::kReplicasGroup), H5Gclose, "create group replicas");
  write_table(g.get(), replica_columns(), p.replicas);
  if (p.replicas.empty()) return;
  require_type<double>(results::kReplicaSummaryColumn);
  for (const auto& [name, value] : p.replicas.front().summary.values) {
    // The replicas share one clock and one run: how long it took is the point's wall_s.
    if (name == "wall_s") continue;
    std::vector<double> values;
    values.reserve(p.replicas.size());
    for (const ReplicaResult& r : p.replicas) values.push_back(r.summary.get(name));
    write_column(g.get(), name, values);
  }
}

void write_workload(hid_t point, const WorkloadReport& w) {
  Handle g(make_group(point, results::kWorkloadGroup), H5Gclose, "create group workload");
  write_attributes(g.get(), workload_attributes(), w);
  write_dataset(g.get(), results::kBadRowMessages, w.bad_row_messages);
  std::vector<std::string> reasons;
  std::vector<int64_t> counts;
  for (const auto& [reason, count] : w.dropped_by_format) {
    reasons.push_back(reason);
    counts.push_back(count);
  }
  write_dataset(g.get(), results::kDroppedByFormatReason, reasons);
  write_dataset(g.get(), results::kDroppedByFormatCount, counts);
}

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

namespace {

// The point group's own attributes: label, axes, point index, resolved config, summary, digest.
void write_point_attributes(hid_t g, const RunResult& p) {
  write_attribute(g, results::kLabel, p.label);
  write_attribute(g, results::kDisplayLabel, p.display_label());
  attr_strings(g, results::kAxes.name, p.axes);
  attr_strings(g, results::kAxisLabels.name, p.axis_labels);
  write_attribute(g, results::kPointIndex, static_cast<int64_t>(p.point_index));
  for (const auto& [k, v] : p.config) attr_config(g, k, v);
  for (const auto& [k, v] : p.summary.values) attr_number<double>(g, k, v);
  write_attribute(g, results::kOutputDigest, p.output_digest);
}

// Every HDF5 call of a ResultsFile holds this lock.
std::mutex& hdf5_lock() {
  static std::mutex m;
  return m;
}

// A 1-D dataset that grows by appends: chunked, unlimited, compressed as large columns are.
class GrowingColumn {
 public:
  GrowingColumn(hid_t group, const std::string& name, hid_t type) : type_(type) {
    const hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = kChunk;
    Handle space(H5Screate_simple(1, &zero, &unlimited), H5Sclose, "create dataspace");
    Handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "create properties");
    check(H5Pset_chunk(plist.get(), 1, &chunk), "chunk " + name);
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 && H5Tis_variable_str(type) <= 0) {
      H5Pset_shuffle(plist.get());
      H5Pset_deflate(plist.get(), 4);
    }
    set_ = std::make_unique<Handle>(H5Dcreate2(group, name.c_str(), type, space.get(), H5P_DEFAULT,
                                               plist.get(), H5P_DEFAULT),
                                    H5Dclose, "create dataset " + name);
    name_ = name;
  }
  hsize_t size() const { return size_; }

  template <typename T>
  void append(const std::vector<T>& values) {
    if constexpr (std::is_same_v<T, std::string>) {
      const std::vector<const char*> ptrs = c_strings(values);
      append_raw(ptrs.data(), ptrs.size());
    } else {
      append_raw(values.data(), values.size());
    }
  }

 private:
  static constexpr hsize_t kChunk = 16384;
  void append_raw(const void* data, hsize_t n) {
    if (n == 0) return;
    const hsize_t grown = size_ + n;
    check(H5Dset_extent(set_->get(), &grown), "grow " + name_);
    Handle file_space(H5Dget_space(set_->get()), H5Sclose, "get dataspace");
    check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &size_, nullptr, &n, nullptr),
          "select rows of " + name_);
    Handle memory(H5Screate_simple(1, &n, nullptr), H5Sclose, "create dataspace");
    check(H5Dwrite(set_->get(), type_, memory.get(), file_space.get(), H5P_DEFAULT, data),
          "write " + name_);
    size_ = grown;
  }

  hid_t type_;
  std::string name_;
  std::unique_ptr<Handle> set_;
  hsize_t size_ = 0;
};

// The HDF5 type a column of ValueType `T` is written as (a variable-length string's is made,
// and kept, by the caller).
template <typename T>
hid_t column_type(hid_t string_type) {
  if constexpr (std::is_same_v<T, std::string>) {
    return string_type;
  } else {
    return native_type<T>();
  }
}

// A table (requests or steps) whose columns grow as rows come, in batches.
template <typename Row>
class GrowingTable {
 public:
  GrowingTable(hid_t group, std::span<const ColumnSpec<Row>> columns, hid_t string_type)
      : columns_(columns) {
    for (const ColumnSpec<Row>& c : columns) {
      with_cpp_type(c.field.type, [&](auto type) {
        using T = decltype(type);
        require_type<T>(c.field);
        sets_.push_back(
            std::make_unique<GrowingColumn>(group, c.field.name, column_type<T>(string_type)));
      });
    }
  }
  void append(const std::vector<Row>& rows) {
    for (size_t k = 0; k < columns_.size(); ++k) {
      const ColumnSpec<Row>& c = columns_[k];
      with_cpp_type(c.field.type, [&](auto type) {
        using T = decltype(type);
        std::vector<T> values;
        values.reserve(rows.size());
        for (const Row& r : rows) values.push_back(cell_as<T>(c.get(r)));
        sets_[k]->append(values);
      });
    }
  }

 private:
  std::span<const ColumnSpec<Row>> columns_;
  std::vector<std::unique_ptr<GrowingColumn>> sets_;
};

}  // namespace

struct ResultsFile::Impl {
  OutputSet* outputs = nullptr;
  std::string path, option;
  std::unique_ptr<Handle> file, points;

  // Runs `f` under the HDF5 lock, an HDF5 failure becoming InputError naming the path.
  template <typename F>
  void guarded(F&& f) {
    std::lock_guard<std::mutex> lock(hdf5_lock());
    try {
      f();
    } catch (const std::runtime_error& e) {
      if (dynamic_cast<const InputError*>(&e) != nullptr) throw;
      // A full disk or a lost file system, not a bug: the user's to fix, named by the path.
      throw InputError(path, 0, option, std::string("cannot write: ") + e.what());
    }
  }
};

namespace {

// A point whose rows are appended as they come (ResultsFile::stream_point).
class HdfPointStream final : public PointStream {
 public:
  HdfPointStream(ResultsFile::Impl& file, size_t point_index) : file_(file) {
    file_.guarded([&] {
      strings_ = std::make_unique<Handle>(string_type(), H5Tclose, "create string type");
      group_ = std::make_unique<Handle>(
          make_group(file_.points->get(), point_group_name(point_index)), H5Gclose,
          "create point group");
      requests_group_ = std::make_unique<Handle>(make_group(group_->get(), results::kRequestsGroup),
                                                 H5Gclose, "create group requests");
      steps_group_ = std::make_unique<Handle>(make_group(group_->get(), results::kStepsGroup),
                                              H5Gclose, "create group steps");
      requests_ = std::make_unique<GrowingTable<RequestRecord>>(
          requests_group_->get(), request_columns(), strings_->get());
      steps_ = std::make_unique<GrowingTable<StepRecord>>(steps_group_->get(), step_columns(),
                                                          strings_->get());
      require_type<float>(results::kItl);
      require_type<int64_t>(results::kItlOffsets);
      itl_ = std::make_unique<GrowingColumn>(requests_group_->get(), results::kItl.name,
                                             H5T_NATIVE_FLOAT);
      itl_offsets_ = std::make_unique<GrowingColumn>(requests_group_->get(),
                                                     results::kItlOffsets.name, H5T_NATIVE_INT64);
      itl_offsets_->append(std::vector<int64_t>{0});
    });
  }
  ~HdfPointStream() override {
    std::lock_guard<std::mutex> lock(hdf5_lock());
    close_handles();
  }

  void on_step(const StepRecord& step, const std::vector<std::string>& term_names) override {
    if (term_names.size() > term_names_.size()) term_names_ = term_names;
    step_rows_.push_back(step);
    if (step_rows_.size() >= kBatch) flush_steps();
  }
  void on_request(RequestRecord&& request) override {
    request_rows_.push_back(std::move(request));
    if (request_rows_.size() >= kBatch) flush_requests();
  }

  void finish(const RunResult& p) override {
    flush_requests();
    flush_steps();
    check_invariant(p.term_names.size() >= term_names_.size(),
                    "streamed point: fewer cost terms than its steps had");
    term_names_ = p.term_names;
    file_.guarded([&] {
      add_cost_columns();  // terms of steps not recorded (output.record_steps = false)
      write_point_attributes(group_->get(), p);
      write_attribute(requests_group_->get(), results::kOutcomeCodes,
                      std::string(results::kOutcomeCodesValue));
      write_replicas(group_->get(), p);
      write_workload(group_->get(), p.workload);
      close_handles();
    });
  }

 private:
  static constexpr size_t kBatch = 8192;

  void close_handles() {
    cost_.clear();
    token_sets_.clear();
    itl_.reset();
    itl_offsets_.reset();
    requests_.reset();
    steps_.reset();
    requests_group_.reset();
    steps_group_.reset();
    group_.reset();
    strings_.reset();
  }

  void flush_requests() {
    if (request_rows_.empty()) return;
    file_.guarded([&] {
      requests_->append(request_rows_);
      std::vector<float> itl;
      std::vector<int64_t> offsets;
      offsets.reserve(request_rows_.size());
      for (const RequestRecord& x : request_rows_) {
        itl.insert(itl.end(), x.itl_s.begin(), x.itl_s.end());
        offsets.push_back(static_cast<int64_t>(itl_->size() + itl.size()));
      }
      itl_->append(itl);
      itl_offsets_->append(offsets);
      append_token_ids();
    });
    request_rows_.clear();
  }

  // As write_requests lays them out: ids of every sample, one after another; where each
  // sample's end is; its request and sample index. Created with the first record that has any.
  void append_token_ids() {
    std::vector<int32_t> ids, sample_of;
    std::vector<int64_t> offsets, request_of;
    for (const RequestRecord& x : request_rows_) {
      for (size_t s = 0; s < x.token_ids.size(); ++s) {
        ids.insert(ids.end(), x.token_ids[s].begin(), x.token_ids[s].end());
        offsets.push_back(static_cast<int64_t>(token_count_ + ids.size()));
        request_of.push_back(x.id);
        sample_of.push_back(static_cast<int32_t>(s));
      }
    }
    if (offsets.empty()) return;
    if (token_sets_.empty()) {
      require_type<int32_t>(results::kTokenIds);
      require_type<int64_t>(results::kTokenOffsets);
      require_type<int64_t>(results::kTokenRequest);
      require_type<int32_t>(results::kTokenSample);
      const hid_t g = requests_group_->get();
      token_sets_.push_back(std::make_unique<GrowingColumn>(g, results::kTokenIds.name, H5T_NATIVE_INT32));
      token_sets_.push_back(std::make_unique<GrowingColumn>(g, results::kTokenOffsets.name, H5T_NATIVE_INT64));
      token_sets_.push_back(std::make_unique<GrowingColumn>(g, results::kTokenRequest.name, H5T_NATIVE_INT64));
      token_sets_.push_back(std::make_unique<GrowingColumn>(g, results::kTokenSample.name, H5T_NATIVE_INT32));
      token_sets_[1]->append(std::vector<int64_t>{0});
    }
    token_sets_[0]->append(ids);
    token_sets_[1]->append(offsets);
    token_sets_[2]->append(request_of);
    token_sets_[3]->append(sample_of);
    token_count_ += ids.size();
  }

  // A term first seen now: its column starts with a 0 for every step already written.
  void add_cost_columns() {
    require_type<double>(results::kCostColumn);
    while (cost_.size() < term_names_.size()) {
      cost_.push_back(std::make_unique<GrowingColumn>(
          steps_group_->get(), cost_column(term_names_[cost_.size()]), H5T_NATIVE_DOUBLE));
      cost_.back()->append(std::vector<double>(steps_written_, 0.0));
    }
  }

  void flush_steps() {
    if (step_rows_.empty()) return;
    file_.guarded([&] {
      steps_->append(step_rows_);
      add_cost_columns();
      for (size_t t = 0; t < cost_.size(); ++t) {
        std::vector<double> seconds;
        seconds.reserve(step_rows_.size());
        for (const StepRecord& x : step_rows_) {
          seconds.push_back(t < x.terms.size() ? x.terms[t] : 0.0);
        }
        cost_[t]->append(seconds);
      }
    });
    steps_written_ += step_rows_.size();
    step_rows_.clear();
  }

  ResultsFile::Impl& file_;
  std::unique_ptr<Handle> strings_, group_, requests_group_, steps_group_;
  std::unique_ptr<GrowingTable<RequestRecord>> requests_;
  std::unique_ptr<GrowingTable<StepRecord>> steps_;
  std::unique_ptr<GrowingColumn> itl_, itl_offsets_;
  std::vector<std::unique_ptr<GrowingColumn>> token_sets_, cost_;
  std::vector<std::string> term_names_;
  std::vector<RequestRecord> request_rows_;
  std::vector<StepRecord> step_rows_;
  size_t steps_written_ = 0;
  size_t token_count_ = 0;
};

}  // namespace

ResultsFile::ResultsFile(OutputSet& outputs, const std::string& path, const std::string& option,
                         const ResultsMeta& meta, size_t num_points, size_t sweep_size)
    : impl_(std::make_unique<Impl>()) {
  Impl& f = *impl_;
  f.outputs = &outputs;
  f.path = path;
  f.option = option;
  const std::string temp = outputs.add(path, option);
  f.guarded([&] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become exceptions, not stderr dumps
    f.file = std::make_unique<Handle>(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                                      H5Fclose, "create the file");
    const hid_t root = f.file->get();
    write_attribute(root, results::kKvlabVersion, std::string(results::kVersion));
    write_attribute(root, results::kFormat, std::string(results::kFormatName));
    write_attribute(root, results::kCreated, now_iso8601());
    write_attribute(root, results::kCommand, meta.command);
    write_attribute(root, results::kConfigPath, meta.config_path);
    write_attribute(root, results::kNumPoints, static_cast<int64_t>(num_points));
    write_attribute(root, results::kSweepSize, static_cast<int64_t>(sweep_size));
    f.points = std::make_unique<Handle>(make_group(root, results::kPointsGroup), H5Gclose,
                                        "create group points");
  });
}

ResultsFile::~ResultsFile() {
  std::lock_guard<std::mutex> lock(hdf5_lock());
  impl_->points.reset();
  impl_->file.reset();
}

void ResultsFile::write_point(const RunResult& p) {
  impl_->guarded([&] {
    Handle g(make_group(impl_->points->get(), point_group_name(p.point_index)), H5Gclose,
             "create point group");
    write_point_attributes(g.get(), p);
    write_requests(g.get(), p);
    write_steps(g.get(), p);
    write_replicas(g.get(), p);
    write_workload(g.get(), p.workload);
  });
}

std::unique_ptr<PointStream> ResultsFile::stream_point(size_t point_index) {
  return std::make_unique<HdfPointStream>(*impl_, point_index);
}

void ResultsFile::close() {
  impl_->guarded([&] {
    check(H5Fflush(impl_->file->get(), H5F_SCOPE_GLOBAL), "flush the file");
    impl_->points.reset();
    // H5Fclose succeeds while objects are open; a failed close (a full disk) is an error.
    const hid_t id = impl_->file->release();
    check(H5Fclose(id), "close the file");
  });
}

size_t results_rows(const RunResult& point) { return point.requests.size() + point.steps.size(); }

void skip_hdf5_teardown_at_exit() { H5dont_atexit(); }

void stage_results_hdf5(OutputSet& outputs, const std::string& path, const std::string& option,
                        const std::vector<RunResult>& points, const ResultsMeta& meta,
                        const WriteProgress& progress) {
  ResultsFile file(outputs, path, option, meta, points.size(),
                   points.empty() ? 0 : points.front().sweep_size);
  size_t rows_total = 0, rows_written = 0;
  for (const RunResult& p : points) rows_total += results_rows(p);
  for (const RunResult& p : points) {
    file.write_point(p);
    rows_written += results_rows(p);
    if (progress) progress(rows_written, rows_total);
  }
  file.close();
}

void write_results_hdf5(const std::string& path, const std::vector<RunResult>& points,
                        const ResultsMeta& meta) {
  OutputSet outputs;
  stage_results_hdf5(outputs, path, "", points, meta);
  outputs.commit();
}

std::string json_text(const nlohmann::ordered_json& value) {
  // dump() writes non-finite numbers as null and every double so that it parses back to the
  // same double; invalid UTF-8 (a label from a Latin-1 file) becomes U+FFFD, not an exception.
  return value.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

namespace {

// A summary value: whole numbers (the counts) as JSON integers, as kvlab has always written
// them; the rest as doubles. Both parse back to the same double.
nlohmann::ordered_json summary_number(double v) {
  const bool whole = std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 0x1p53 &&
                     !(v == 0 && std::signbit(v));
  if (whole) return static_cast<int64_t>(v);
  return v;
}

}  // namespace

std::string summary_json(const std::vector<RunResult>& points) {
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const RunResult& p : points) {
    nlohmann::ordered_json point;
    point["point"] = p.point_index;
    point["label"] = p.label;
    for (const auto& [k, v] : p.summary.values) point[k] = summary_number(v);
    if (p.has_token_ids) {
      char buf[24];
      std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(p.output_digest));
      point[results::kOutputDigest.name] = buf;
    }
    point["config"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : p.config) point["config"][k] = v;
    all.push_back(std::move(point));
  }
  return json_text(all);
}

std::string summary_table(const std::vector<RunResult>& points) {
  struct Col {
    const char* header;
    const char* key;
    double scale;
    int precision;
  };
  std::vector<Col> cols = {
      {"req/s", "throughput_req_s", 1, 2},
      {"tok/s", "throughput_tok_s", 1, 0},
      {"norm.lat s/tok", "normalized_latency_s_per_tok", 1, 4},
      {"ttft p50 s", "ttft_p50_s", 1, 3},
      {"tpot p50 ms", "tpot_p50_s", 1000, 1},
      {"batch", "mean_batch_size", 1, 1},
      {"kv tok%", "kv_token_states_frac", 100, 1},
      {"kv res%", "kv_reserved_frac", 100, 1},
      {"kv int%", "kv_internal_frag_frac", 100, 1},
      {"kv ext%", "kv_external_frag_frac", 100, 1},
      {"kv free%", "kv_free_frac", 100, 1},
      {"preempt", "num_preemptions", 1, 0},
      {"rejected", "num_rejected", 1, 0},
  };
  // Prefix caching's columns appear when some point caches (they are "-" for the others).
  const bool caching = std::any_of(points.begin(), points.end(), [](const RunResult& p) {
    return std::isfinite(p.summary.get("prefix_hit_rate_bound"));
  });
  if (caching) {
    cols.insert(cols.begin() + 11, {{"kv cache%", "kv_cached_frac", 100, 1},
                                    {"hit%", "prefix_hit_rate", 100, 1},
                                    {"hit bound%", "prefix_hit_rate_bound", 100, 1}});
  }
  // Points by their display names ("Orca (Max), rate=2"); the full key=value label is in the
  // files.
  auto name_of = [](const RunResult& p) {
    const std::string display = p.display_label();
    return display.empty() ? p.label : display;
  };
  size_t label_width = 5;
  for (const RunResult& p : points) label_width = std::max(label_width, name_of(p).size());
  std::ostringstream out;
  out << std::left << std::setw(static_cast<int>(label_width)) << "point";
  for (const Col& c : cols)
    out << "  " << std::right
        << std::setw(static_cast<int>(std::max<size_t>(8, std::string(c.header).size())))
        << c.header;
  out << "\n";
  for (const RunResult& p : points) {
    out << std::left << std::setw(static_cast<int>(label_width))
        << (name_of(p).empty() ? "-" : name_of(p));
    for (const Col& c : cols) {
      const int w = static_cast<int>(std::max<size_t>(8, std::string(c.header).size()));
      const double v = p.summary.get(c.key) * c.scale;
      std::ostringstream cell;
      if (std::isfinite(v))
        cell << std::fixed << std::setprecision(c.precision) << v;
      else
        cell << "-";
      out << "  " << std::right << std::setw(w) << cell.str();
    }
    out << "\n";
  }
  return out.str();
}

namespace {

struct ShardPoint {
  std::string file;
  std::string name;
};

int64_t read_int_attr(hid_t object, const FieldSpec& f, const std::string& file) {
  int64_t v = 0;
  Handle attr(H5Aopen(object, f.name, H5P_DEFAULT), H5Aclose,
              "read attribute " + std::string(f.name) + " of " + file);
  check(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), "read attribute " + std::string(f.name));
  return v;
}

std::string read_string_attr(hid_t object, const FieldSpec& f, const std::string& file) {
  Handle attr(H5Aopen(object, f.name, H5P_DEFAULT), H5Aclose,
              "read attribute " + std::string(f.name) + " of " + file);
  Handle type(H5Aget_type(attr.get()), H5Tclose, "attribute type");
  char* value = nullptr;
  check(H5Aread(attr.get(), type.get(), &value), "read attribute " + std::string(f.name));
  std::string out = value ? value : "";
  H5free_memory(value);
  return out;
}

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

// Every dataset the schema says point `name` of a shard holds is there.
void check_point(hid_t file, const std::string& file_name, const std::string& name) {
  const std::string point = std::string(results::kPointsGroup) + "/" + name + "/";
  auto require = [&](const std::string& path) {
    if (H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0) {
      throw InputError(file_name, 0, path,
                       "missing: not a complete " + std::string(results::kFormatName) + " point");
    }
  };
  for (const char* group :
       {results::kRequestsGroup, results::kStepsGroup, results::kWorkloadGroup}) {
    require(point + group);
  }
  for (const auto& c : request_columns())
    require(point + results::kRequestsGroup + "/" + c.field.name);
  for (const FieldSpec& f : itl_datasets()) require(point + results::kRequestsGroup + "/" + f.name);
  for (const auto& c : step_columns()) require(point + results::kStepsGroup + "/" + c.field.name);
  for (const FieldSpec& f : workload_datasets())
    require(point + results::kWorkloadGroup + "/" + f.name);
}

}  // namespace

namespace {
const char* const kMergeOut = "OUT.h5";  // how `kvlab merge --help` names the merged file
}  // namespace

void merge_results_hdf5(const std::string& out, const std::vector<std::string>& shards,
                        const std::string& command) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (shards.empty()) throw InputError("kvlab merge", 0, "", "no shard files given");
  check_output_path(out, kMergeOut);
  std::map<std::string, ShardPoint> points;  // by group name (zero-padded point index)
  int64_t sweep_size = -1;
  for (const std::string& file : shards) {
    try {
      hid_t raw = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
      if (raw < 0) throw InputError(file, 0, "", "cannot open as a kvlab HDF5 result file");
      Handle f(raw, H5Fclose, "open " + file);
      if (H5Aexists(f.get(), results::kSweepSize.name) <= 0 ||
          H5Lexists(f.get(), results::kPointsGroup, H5P_DEFAULT) <= 0) {
        throw InputError(file, 0, "", "not a kvlab result file (no sweep_size / points)");
      }
      const std::string format = H5Aexists(f.get(), results::kFormat.name) > 0
                                     ? read_string_attr(f.get(), results::kFormat, file)
                                     : "";
      if (format != results::kFormatName) {
        throw InputError(file, 0, results::kFormat.name,
                         "is '" + format + "', this kvlab merges " + results::kFormatName);
      }
      const int64_t size = read_int_attr(f.get(), results::kSweepSize, file);
      if (sweep_size >= 0 && size != sweep_size) {
        throw InputError(file, 0, results::kSweepSize.name,
                         "this shard's sweep has " + std::to_string(size) +
                             " points, the first shard's " + std::to_string(sweep_size));
      }
      sweep_size = size;
      std::vector<std::string> names;
      Handle g(H5Gopen2(f.get(), results::kPointsGroup, H5P_DEFAULT), H5Gclose,
               "open points of " + file);
      check(H5Literate(g.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names),
            "list points of " + file);
      for (const std::string& name : names) {
        check_point(f.get(), file, name);
        auto [it, inserted] = points.emplace(name, ShardPoint{file, name});
        if (!inserted) {
          throw InputError(file, 0, "", "point " + name + " is also in " + it->second.file);
        }
      }
    } catch (const InputError&) {
      throw;
    } catch (const std::runtime_error& e) {
      // HDF5 opened the file but fails inside it: a damaged shard, not a bug (fuzzing found
      // this ending as an internal error).
      throw InputError(file, 0, "", std::string("damaged kvlab result file: ") + e.what());
    }
  }
  std::string missing;
  for (int64_t i = 0; i < sweep_size; ++i) {
    if (!points.count(point_group_name(static_cast<size_t>(i))))
      missing += (missing.empty() ? "" : ", ") + std::to_string(i);
  }
  if (!missing.empty()) {
    throw InputError(
        "kvlab merge", 0, "",
        "the shards lack point(s) " + missing + " of the sweep's " + std::to_string(sweep_size));
  }

  OutputSet outputs;
  const std::string temp = outputs.add(out, kMergeOut);
  try {
    Handle dst(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
               "create the file");
    {
      // The root attributes a sweep's shards share, from the first shard; then what differs.
      Handle first(H5Fopen(shards.front().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                   "open " + shards.front());
      for (const FieldSpec* f :
           {&results::kKvlabVersion, &results::kFormat, &results::kConfigPath}) {
        if (H5Aexists(first.get(), f->name) <= 0) continue;
        write_attribute(dst.get(), *f, read_string_attr(first.get(), *f, shards.front()));
      }
    }
    write_attribute(dst.get(), results::kCreated, now_iso8601());
    write_attribute(dst.get(), results::kCommand, command);
    write_attribute(dst.get(), results::kNumPoints, sweep_size);
    write_attribute(dst.get(), results::kSweepSize, sweep_size);
    Handle all(make_group(dst.get(), results::kPointsGroup), H5Gclose, "create group points");
    for (const auto& [name, where] : points) {
      Handle src(H5Fopen(where.file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                 "open " + where.file);
      const std::string from = std::string(results::kPointsGroup) + "/" + name;
      check(H5Ocopy(src.get(), from.c_str(), all.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
            "copy point " + name + " of " + where.file);
    }
    check(H5Fflush(dst.get(), H5F_SCOPE_GLOBAL), "flush the file");
  } catch (const InputError&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw InputError(out, 0, kMergeOut, std::string("cannot write: ") + e.what());
  }
  outputs.commit();
}

}  // namespace kvlab
