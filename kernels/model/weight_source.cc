#include "kernels/model/weight_source.h"

#include <cmath>
#include <random>

#include "core/errors.h"

namespace kvlab {

namespace {

// FNV-1a: a stable hash of the tensor name (std::hash is not specified across platforms).
uint64_t fnv1a(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

void DummyWeightSource::load(const std::string& name, std::span<const int64_t> shape,
                             std::span<float> out) const {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  check_invariant(!shape.empty() && count == static_cast<int64_t>(out.size()),
                  "DummyWeightSource: '" + name + "' shape does not match its buffer");
  double center = 0.0;
  double half_width = 0.0;
  const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
  if (name.find("embed_tokens") != std::string::npos ||
      name.find("embed_positions") != std::string::npos) {
    half_width = 1.0;
  } else if (shape.size() == 1 && is_bias) {
    half_width = 0.1;
  } else if (shape.size() == 1) {
    center = 1.0;
    half_width = 0.1;
  } else {
    half_width = std::sqrt(3.0 / static_cast<double>(shape.back()));
  }
  std::mt19937_64 rng(seed_ ^ fnv1a(name));
  for (float& x : out) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
    x = static_cast<float>(center + half_width * (2.0 * u - 1.0));
  }
}

void load_rows(const WeightSource& source, const std::string& name, cpu::RowMatrix& dst,
               Eigen::Index first_row, Eigen::Index rows) {
  check_invariant(first_row >= 0 && rows >= 0 && first_row + rows <= dst.rows(),
                  "load_rows: '" + name + "' does not fit its destination");
  const int64_t shape[] = {rows, dst.cols()};
  source.load(name, shape,
              std::span<float>(dst.data() + first_row * dst.cols(),
                               static_cast<size_t>(rows * dst.cols())));
}

cpu::RowMatrix load_matrix(const WeightSource& source, const std::string& name, Eigen::Index rows,
                           Eigen::Index cols) {
  cpu::RowMatrix m(rows, cols);
  load_rows(source, name, m, 0, rows);
  return m;
}

void load_segment(const WeightSource& source, const std::string& name, Eigen::VectorXf& dst,
                  Eigen::Index first, Eigen::Index size) {
  check_invariant(first >= 0 && size >= 0 && first + size <= dst.size(),
                  "load_segment: '" + name + "' does not fit its destination");
  const int64_t shape[] = {size};
  source.load(name, shape, std::span<float>(dst.data() + first, static_cast<size_t>(size)));
}

Eigen::VectorXf load_vector(const WeightSource& source, const std::string& name,
                            Eigen::Index size) {
  Eigen::VectorXf v(size);
  load_segment(source, name, v, 0, size);
  return v;
}

void load_row_slice(const WeightSource& source, const std::string& name, Eigen::Index full_rows,
                    Eigen::Index first, Eigen::Index count, cpu::RowMatrix& dst,
                    Eigen::Index dst_row) {
  check_invariant(first >= 0 && count >= 0 && first + count <= full_rows,
                  "load_row_slice: rows of '" + name + "' out of range");
  if (first == 0 && count == full_rows) {
    load_rows(source, name, dst, dst_row, count);
    return;
  }
  check_invariant(dst_row >= 0 && dst_row + count <= dst.rows(),
                  "load_row_slice: '" + name + "' does not fit its destination");
  const cpu::RowMatrix whole = load_matrix(source, name, full_rows, dst.cols());
  dst.middleRows(dst_row, count) = whole.middleRows(first, count);
}

void load_segment_slice(const WeightSource& source, const std::string& name,
                        Eigen::Index full_size, Eigen::Index first, Eigen::Index count,
                        Eigen::VectorXf& dst, Eigen::Index dst_first) {
  check_invariant(first >= 0 && count >= 0 && first + count <= full_size,
                  "load_segment_slice: entries of '" + name + "' out of range");
  if (first == 0 && count == full_size) {
    load_segment(source, name, dst, dst_first, count);
    return;
  }
  check_invariant(dst_first >= 0 && dst_first + count <= dst.size(),
                  "load_segment_slice: '" + name + "' does not fit its destination");
  const Eigen::VectorXf whole = load_vector(source, name, full_size);
  dst.segment(dst_first, count) = whole.segment(first, count);
}

}  // namespace kvlab
