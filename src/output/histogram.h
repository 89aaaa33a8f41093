// Histograms and summary statistics for tools that measure durations or sizes.
//
// * Log2Histogram + format_log2_hist(): power-of-two buckets printed in the layout of
//   bcc's print_log2_hist (libbpf-tools/trace_helpers.c), which operators know:
//
//          usecs               : count    distribution
//              0 -> 1          : 0        |                                        |
//              2 -> 3          : 3        |**********                              |
//
//   Bucket 0 holds 0 and 1; bucket i >= 1 holds [2^i, 2^(i+1) - 1].
// * summarize(): count, min, mean, p50, p90, p99, max. Percentiles use the
//   nearest-rank method (the smallest sample with at least p% of the samples at or
//   below it), so every reported percentile is a value that was really observed.
// * make_bins(): N equal-width bins, on a linear or a log10 axis, for a picture.
//
// LLVM-free (tracekit_core).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tracekit {

// Bucket index of v: 0 for 0 and 1, else floor(log2(v)) (0..63).
unsigned log2_bucket(std::uint64_t v);

class Log2Histogram {
 public:
  void add(std::uint64_t v, std::uint64_t times = 1);
  std::uint64_t count() const { return count_; }
  // Counts per bucket, up to the highest non-empty one (empty when nothing was added).
  const std::vector<std::uint64_t>& buckets() const { return buckets_; }

 private:
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
};

// Renders buckets like bcc's print_log2_hist: a header naming `unit` ("usecs"), one
// line per bucket up to the last non-empty one, stars scaled to the largest count
// (40 columns; 20 when buckets above 32 are used, with wider range columns).
// Returns "" when every bucket is empty (bcc prints nothing then).
std::string format_log2_hist(const std::vector<std::uint64_t>& buckets, std::string_view unit);

struct Summary {
  std::size_t count = 0;
  double min = 0, mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// Nearest-rank percentile (0 < p <= 100) of an ascending, non-empty vector.
double percentile_sorted(const std::vector<double>& sorted, double p);

// Statistics of `values` (any order). All fields 0 when empty.
Summary summarize(std::vector<double> values);

struct Bins {
  std::vector<double> edges;          // n + 1 ascending edges
  std::vector<std::uint64_t> counts;  // n counts; bin i is [edges[i], edges[i+1]), the last one closed
  bool log_scale = false;             // edges equally spaced in log10
  std::uint64_t skipped = 0;          // values left out (<= 0 on a log axis, NaN)
};

// n >= 1 equal-width bins spanning [min, max] of the values. When every value is the
// same (or there is one value) the range is widened around it so the bar is visible:
// linear +-50% (+-0.5 around 0), log a factor of 2 either way. With no usable value
// the edges cover [0, 1] (linear) or [0.1, 1] (log) and every count is 0.
Bins make_bins(const std::vector<double>& values, int n, bool log_scale);

}  // namespace tracekit
