#include "app/results_writer.h"

#include <hdf5.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <iomanip>
#include <sstream>

#include "core/errors.h"

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

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void check(herr_t status, const std::string& what) {
  if (status < 0) throw std::runtime_error("HDF5: cannot " + what);
}

template <typename T>
hid_t native_type();
template <> hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> hid_t native_type<int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t native_type<int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t native_type<int8_t>() { return H5T_NATIVE_INT8; }
template <> hid_t native_type<uint64_t>() { return H5T_NATIVE_UINT64; }

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

void write_string_column(hid_t group, const std::string& name, const std::vector<std::string>& values) {
  const hsize_t n = values.size();
  std::vector<const char*> ptrs;
  ptrs.reserve(n);
  for (const std::string& v : values) ptrs.push_back(v.c_str());
  Handle type(string_type(), H5Tclose, "create string type");
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose, "create dataspace");
  Handle set(H5Dcreate2(group, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT),
             H5Dclose, "create dataset " + name);
  if (n > 0) check(H5Dwrite(set.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "write " + name);
}

void attr_string(hid_t object, const std::string& name, const std::string& value) {
  Handle type(string_type(), H5Tclose, "create string type");
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, "create dataspace");
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose, "create attribute " + name);
  const char* p = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &p), "write attribute " + name);
}

template <typename T>
void attr_number(hid_t object, const std::string& name, T value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, "create dataspace");
  Handle attr(H5Acreate2(object, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose, "create attribute " + name);
  check(H5Awrite(attr.get(), native_type<T>(), &value), "write attribute " + name);
}

hid_t make_group(hid_t parent, const std::string& name) {
  return H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

template <typename T, typename F>
std::vector<T> column(const std::vector<StepRecord>& rows, F get) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (const StepRecord& r : rows) out.push_back(static_cast<T>(get(r)));
  return out;
}

template <typename T, typename F>
std::vector<T> rcolumn(const std::vector<RequestRecord>& rows, F get) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (const RequestRecord& r : rows) out.push_back(static_cast<T>(get(r)));
  return out;
}

void write_requests(hid_t point, const RunResult& p) {
  Handle g(make_group(point, "requests"), H5Gclose, "create group requests");
  const auto& r = p.requests;
  write_column(g.get(), "id", rcolumn<int64_t>(r, [](auto& x) { return x.id; }));
  write_column(g.get(), "trace_line", rcolumn<int64_t>(r, [](auto& x) { return x.trace_line; }));
  write_column(g.get(), "arrival_s", rcolumn<double>(r, [](auto& x) { return x.arrival_s; }));
  write_column(g.get(), "first_scheduled_s", rcolumn<double>(r, [](auto& x) { return x.first_scheduled_s; }));
  write_column(g.get(), "first_token_s", rcolumn<double>(r, [](auto& x) { return x.first_token_s; }));
  write_column(g.get(), "finish_s", rcolumn<double>(r, [](auto& x) { return x.finish_s; }));
  write_column(g.get(), "prompt_len", rcolumn<int32_t>(r, [](auto& x) { return x.prompt_len; }));
  write_column(g.get(), "output_len", rcolumn<int32_t>(r, [](auto& x) { return x.output_len; }));
  write_column(g.get(), "n", rcolumn<int32_t>(r, [](auto& x) { return x.n; }));
  write_column(g.get(), "generated_tokens", rcolumn<int64_t>(r, [](auto& x) { return x.generated_tokens; }));
  write_column(g.get(), "num_preemptions", rcolumn<int32_t>(r, [](auto& x) { return x.num_preemptions; }));
  write_column(g.get(), "num_recomputes", rcolumn<int32_t>(r, [](auto& x) { return x.num_recomputes; }));
  write_column(g.get(), "num_swaps", rcolumn<int32_t>(r, [](auto& x) { return x.num_swaps; }));
  write_column(g.get(), "outcome", rcolumn<int8_t>(r, [](auto& x) { return static_cast<int>(x.outcome); }));
  std::vector<std::string> reasons;
  for (const RequestRecord& x : r) reasons.push_back(x.reject_reason);
  write_string_column(g.get(), "reject_reason", reasons);
  attr_string(g.get(), "outcome_codes", "0 finished, 1 rejected, 2 unfinished");
  if (p.has_token_ids) {
    // Generated ids of every sample, concatenated; token_offsets[i]..token_offsets[i+1] are
    // the ids of sample token_sample[i] of request token_request[i].
    std::vector<int32_t> ids, sample_of;
    std::vector<int64_t> offsets{0}, request_of;
    for (const RequestRecord& x : r) {
      for (size_t s = 0; s < x.token_ids.size(); ++s) {
        ids.insert(ids.end(), x.token_ids[s].begin(), x.token_ids[s].end());
        offsets.push_back(static_cast<int64_t>(ids.size()));
        request_of.push_back(x.id);
        sample_of.push_back(static_cast<int32_t>(s));
      }
    }
    write_column(g.get(), "token_ids", ids);
    write_column(g.get(), "token_offsets", offsets);
    write_column(g.get(), "token_request", request_of);
    write_column(g.get(), "token_sample", sample_of);
  }
}

void write_steps(hid_t point, const RunResult& p) {
  Handle g(make_group(point, "steps"), H5Gclose, "create group steps");
  const auto& s = p.steps;
  write_column(g.get(), "time_s", column<double>(s, [](auto& x) { return x.time_s; }));
  write_column(g.get(), "duration_s", column<double>(s, [](auto& x) { return x.duration_s; }));
  write_column(g.get(), "batch_size", column<int32_t>(s, [](auto& x) { return x.batch_size; }));
  write_column(g.get(), "num_prefill_seqs", column<int32_t>(s, [](auto& x) { return x.num_prefill_seqs; }));
  write_column(g.get(), "num_decode_seqs", column<int32_t>(s, [](auto& x) { return x.num_decode_seqs; }));
  write_column(g.get(), "prefill_tokens", column<int64_t>(s, [](auto& x) { return x.prefill_tokens; }));
  write_column(g.get(), "decode_tokens", column<int64_t>(s, [](auto& x) { return x.decode_tokens; }));
  write_column(g.get(), "num_running", column<int32_t>(s, [](auto& x) { return x.num_running; }));
  write_column(g.get(), "num_waiting", column<int32_t>(s, [](auto& x) { return x.num_waiting; }));
  write_column(g.get(), "num_swapped", column<int32_t>(s, [](auto& x) { return x.num_swapped; }));
  write_column(g.get(), "kv_token_states", column<int64_t>(s, [](auto& x) { return x.memory.token_states; }));
  write_column(g.get(), "kv_reserved", column<int64_t>(s, [](auto& x) { return x.memory.reserved; }));
  write_column(g.get(), "kv_internal_frag", column<int64_t>(s, [](auto& x) { return x.memory.internal_frag; }));
  write_column(g.get(), "kv_external_frag", column<int64_t>(s, [](auto& x) { return x.memory.external_frag; }));
  write_column(g.get(), "kv_free", column<int64_t>(s, [](auto& x) { return x.memory.free; }));
  write_column(g.get(), "preempted_recompute", column<int32_t>(s, [](auto& x) { return x.num_preempted_recompute; }));
  write_column(g.get(), "preempted_swap", column<int32_t>(s, [](auto& x) { return x.num_preempted_swap; }));
  write_column(g.get(), "swap_out_bytes", column<int64_t>(s, [](auto& x) { return x.swap_out_bytes; }));
  write_column(g.get(), "swap_in_bytes", column<int64_t>(s, [](auto& x) { return x.swap_in_bytes; }));
  write_column(g.get(), "copy_bytes", column<int64_t>(s, [](auto& x) { return x.copy_bytes; }));
  for (size_t t = 0; t < p.term_names.size(); ++t) {
    write_column(g.get(), "cost_" + p.term_names[t] + "_s",
                 column<double>(s, [t](auto& x) { return t < x.terms.size() ? x.terms[t] : 0.0; }));
  }
}

void write_workload(hid_t point, const WorkloadReport& w) {
  Handle g(make_group(point, "workload"), H5Gclose, "create group workload");
  attr_string(g.get(), "source", w.source);
  attr_string(g.get(), "format", w.format);
  attr_number<int64_t>(g.get(), "rows_read", w.rows_read);
  attr_number<int64_t>(g.get(), "bad_rows_skipped", w.bad_rows_skipped);
  attr_number<int64_t>(g.get(), "filtered_prompt_len", w.filtered_prompt_len);
  attr_number<int64_t>(g.get(), "filtered_total_len", w.filtered_total_len);
  attr_number<int64_t>(g.get(), "beyond_num_requests", w.beyond_num_requests);
  write_string_column(g.get(), "bad_row_messages", w.bad_row_messages);
  std::vector<std::string> reasons;
  std::vector<int64_t> counts;
  for (const auto& [reason, count] : w.dropped_by_format) {
    reasons.push_back(reason);
    counts.push_back(count);
  }
  write_string_column(g.get(), "dropped_by_format_reason", reasons);
  write_column(g.get(), "dropped_by_format_count", counts);
}

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string point_name(size_t i) {
  std::ostringstream s;
  s << std::setw(4) << std::setfill('0') << i;
  return s.str();
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream s;
  s << std::setprecision(17) << v;
  return s.str();
}

}  // namespace

void write_results_hdf5(const std::string& path, const std::vector<RunResult>& points,
                        const ResultsMeta& meta) {
  const std::string partial = path + ".partial";
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become exceptions, not stderr dumps
  try {
    {
      Handle file(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
                  "create " + partial);
      attr_string(file.get(), "kvlab_version", "0.1.0");
      attr_string(file.get(), "format", "kvlab-results-1");
      attr_string(file.get(), "created", now_iso8601());
      attr_string(file.get(), "command", meta.command);
      attr_string(file.get(), "config_path", meta.config_path);
      attr_number<int64_t>(file.get(), "num_points", static_cast<int64_t>(points.size()));
      attr_number<int64_t>(file.get(), "sweep_size",
                           static_cast<int64_t>(points.empty() ? 0 : points.front().sweep_size));
      Handle all(make_group(file.get(), "points"), H5Gclose, "create group points");
      for (size_t i = 0; i < points.size(); ++i) {
        const RunResult& p = points[i];
        Handle g(make_group(all.get(), point_name(p.point_index)), H5Gclose, "create point group");
        attr_string(g.get(), "label", p.label);
        attr_number<int64_t>(g.get(), "point_index", static_cast<int64_t>(p.point_index));
        for (const auto& [k, v] : p.config) attr_string(g.get(), k, v);
        for (const auto& [k, v] : p.summary.values) attr_number<double>(g.get(), k, v);
        attr_number<uint64_t>(g.get(), "output_digest", p.output_digest);
        write_requests(g.get(), p);
        write_steps(g.get(), p);
        write_workload(g.get(), p.workload);
      }
    }
    if (std::rename(partial.c_str(), path.c_str()) != 0) {
      throw std::runtime_error("cannot rename " + partial + " to " + path);
    }
  } catch (...) {
    std::remove(partial.c_str());
    throw;
  }
}

std::string summary_json(const std::vector<RunResult>& points) {
  std::ostringstream out;
  out << "[\n";
  for (size_t i = 0; i < points.size(); ++i) {
    const RunResult& p = points[i];
    out << "  {\"point\": " << p.point_index << ", \"label\": \"" << json_escape(p.label) << "\"";
    for (const auto& [k, v] : p.summary.values) out << ", \"" << k << "\": " << json_number(v);
    if (p.has_token_ids) {
      char buf[24];
      std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(p.output_digest));
      out << ", \"output_digest\": \"" << buf << "\"";
    }
    out << ", \"config\": {";
    bool first = true;
    for (const auto& [k, v] : p.config) {
      out << (first ? "" : ", ") << "\"" << json_escape(k) << "\": \"" << json_escape(v) << "\"";
      first = false;
    }
    out << "}}" << (i + 1 < points.size() ? "," : "") << "\n";
  }
  out << "]\n";
  return out.str();
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(path, 0, "", "cannot write");
    out << text;
    out.flush();
    if (!out) {
      std::remove(partial.c_str());
      throw InputError(path, 0, "", "write failed");
    }
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    std::remove(partial.c_str());
    throw InputError(path, 0, "", "cannot rename the finished file into place");
  }
}

std::string summary_table(const std::vector<RunResult>& points) {
  struct Col {
    const char* header;
    const char* key;
    double scale;
    int precision;
  };
  const Col cols[] = {
      {"req/s", "throughput_req_s", 1, 2},          {"tok/s", "throughput_tok_s", 1, 0},
      {"norm.lat s/tok", "normalized_latency_s_per_tok", 1, 4},
      {"ttft p50 s", "ttft_p50_s", 1, 3},           {"tpot p50 ms", "tpot_p50_s", 1000, 1},
      {"batch", "mean_batch_size", 1, 1},           {"kv tok%", "kv_token_states_frac", 100, 1},
      {"kv res%", "kv_reserved_frac", 100, 1},      {"kv int%", "kv_internal_frag_frac", 100, 1},
      {"kv ext%", "kv_external_frag_frac", 100, 1}, {"kv free%", "kv_free_frac", 100, 1},
      {"preempt", "num_preemptions", 1, 0},         {"rejected", "num_rejected", 1, 0},
  };
  size_t label_width = 5;
  for (const RunResult& p : points) label_width = std::max(label_width, p.label.size());
  std::ostringstream out;
  out << std::left << std::setw(static_cast<int>(label_width)) << "point";
  for (const Col& c : cols) out << "  " << std::right << std::setw(static_cast<int>(std::max<size_t>(8, std::string(c.header).size()))) << c.header;
  out << "\n";
  for (const RunResult& p : points) {
    out << std::left << std::setw(static_cast<int>(label_width)) << (p.label.empty() ? "-" : p.label);
    for (const Col& c : cols) {
      const int w = static_cast<int>(std::max<size_t>(8, std::string(c.header).size()));
      const double v = p.summary.get(c.key) * c.scale;
      std::ostringstream cell;
      if (std::isfinite(v)) cell << std::fixed << std::setprecision(c.precision) << v; else cell << "-";
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

int64_t read_int_attr(hid_t object, const char* name, const std::string& file) {
  int64_t v = 0;
  Handle attr(H5Aopen(object, name, H5P_DEFAULT), H5Aclose, "read attribute " + std::string(name) + " of " + file);
  check(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), "read attribute " + std::string(name));
  return v;
}

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

}  // namespace

void merge_results_hdf5(const std::string& out, const std::vector<std::string>& shards,
                        const std::string& command) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (shards.empty()) throw InputError("kvlab merge", 0, "", "no shard files given");
  std::map<std::string, ShardPoint> points;  // by group name (zero-padded point index)
  int64_t sweep_size = -1;
  std::string config_path;
  for (const std::string& file : shards) {
    hid_t raw = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (raw < 0) throw InputError(file, 0, "", "cannot open as a kvlab HDF5 result file");
    Handle f(raw, H5Fclose, "open " + file);
    if (H5Aexists(f.get(), "sweep_size") <= 0 || H5Lexists(f.get(), "points", H5P_DEFAULT) <= 0) {
      throw InputError(file, 0, "", "not a kvlab result file (no sweep_size / points)");
    }
    const int64_t size = read_int_attr(f.get(), "sweep_size", file);
    if (sweep_size >= 0 && size != sweep_size) {
      throw InputError(file, 0, "sweep_size", "this shard's sweep has " + std::to_string(size) +
                                                  " points, the first shard's " + std::to_string(sweep_size));
    }
    sweep_size = size;
    std::vector<std::string> names;
    Handle g(H5Gopen2(f.get(), "points", H5P_DEFAULT), H5Gclose, "open points of " + file);
    check(H5Literate(g.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names), "list points of " + file);
    for (const std::string& name : names) {
      auto [it, inserted] = points.emplace(name, ShardPoint{file, name});
      if (!inserted) {
        throw InputError(file, 0, "", "point " + name + " is also in " + it->second.file);
      }
    }
  }
  std::string missing;
  for (int64_t i = 0; i < sweep_size; ++i) {
    if (!points.count(point_name(static_cast<size_t>(i)))) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
  }
  if (!missing.empty()) {
    throw InputError(
        "kvlab merge", 0, "",
        "the shards lack point(s) " + missing + " of the sweep's " + std::to_string(sweep_size));
  }

  const std::string partial = out + ".partial";
  try {
    {
      Handle dst(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose, "create " + partial);
      {
        // Root attributes from the first shard, then what differs.
        Handle first(H5Fopen(shards.front().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "open " + shards.front());
        for (const char* name : {"kvlab_version", "format", "config_path"}) {
          if (H5Aexists(first.get(), name) <= 0) continue;
          Handle attr(H5Aopen(first.get(), name, H5P_DEFAULT), H5Aclose, "open attribute");
          Handle type(H5Aget_type(attr.get()), H5Tclose, "attribute type");
          char* value = nullptr;
          check(H5Aread(attr.get(), type.get(), &value), "read attribute");
          attr_string(dst.get(), name, value ? value : "");
          H5free_memory(value);
        }
      }
      attr_string(dst.get(), "created", now_iso8601());
      attr_string(dst.get(), "command", command);
      attr_number<int64_t>(dst.get(), "num_points", sweep_size);
      attr_number<int64_t>(dst.get(), "sweep_size", sweep_size);
      Handle all(make_group(dst.get(), "points"), H5Gclose, "create group points");
      for (const auto& [name, where] : points) {
        Handle src(H5Fopen(where.file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "open " + where.file);
        check(H5Ocopy(src.get(), ("points/" + name).c_str(), all.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
              "copy point " + name + " of " + where.file);
      }
    }
    if (std::rename(partial.c_str(), out.c_str()) != 0) throw std::runtime_error("cannot rename " + partial);
  } catch (...) {
    std::remove(partial.c_str());
    throw;
  }
}

}  // namespace kvlab
