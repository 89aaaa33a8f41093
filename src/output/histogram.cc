// See histogram.h.
#include "output/histogram.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

namespace tracekit {

unsigned log2_bucket(std::uint64_t v) {
  if (v <= 1) return 0;
  return static_cast<unsigned>(std::bit_width(v)) - 1;
}

void Log2Histogram::add(std::uint64_t v, std::uint64_t times) {
  if (times == 0) return;
  unsigned b = log2_bucket(v);
  if (buckets_.size() <= b) buckets_.resize(b + 1, 0);
  buckets_[b] += times;
  count_ += times;
}

std::string format_log2_hist(const std::vector<std::uint64_t>& buckets, std::string_view unit) {
  int last = -1;
  std::uint64_t largest = 0;
  for (std::size_t i = 0; i < buckets.size() && i < 64; ++i) {
    if (buckets[i] > 0) last = static_cast<int>(i);
    largest = std::max(largest, buckets[i]);
  }
  if (last < 0) return {};

  const bool wide = last > 32;  // ranges beyond 2^33 need 20 columns
  const int range_width = wide ? 20 : 10;
  const int star_width = wide ? 20 : 40;

  std::string out;
  out += fmt::format("{:{}}{:<{}} : count    distribution\n", "", wide ? 15 : 5, unit, wide ? 29 : 19);
  for (int i = 0; i <= last; ++i) {
    unsigned long long low = i == 0 ? 0 : 1ULL << i;
    unsigned long long high = i == 63 ? ~0ULL : (1ULL << (i + 1)) - 1;
    const std::uint64_t n = buckets[static_cast<std::size_t>(i)];
    out += fmt::format("{:>{}} -> {:<{}} : {:<8} |", low, range_width, high, range_width, n);
    // n <= largest always; scale in long double so huge counts cannot overflow.
    int stars = static_cast<int>(static_cast<long double>(n) * star_width / static_cast<long double>(largest));
    out.append(static_cast<std::size_t>(stars), '*');
    out.append(static_cast<std::size_t>(star_width - stars), ' ');
    out += "|\n";
  }
  return out;
}

double percentile_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double n = static_cast<double>(sorted.size());
  double rank = std::ceil(p * n / 100.0);  // p * n first: exact for integral p and n
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[static_cast<std::size_t>(rank) - 1];
}

Summary summarize(std::vector<double> values) {
  Summary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.count = values.size();
  s.min = values.front();
  s.max = values.back();
  long double sum = 0;
  for (double v : values) sum += v;
  s.mean = static_cast<double>(sum / static_cast<long double>(values.size()));
  s.p50 = percentile_sorted(values, 50);
  s.p90 = percentile_sorted(values, 90);
  s.p99 = percentile_sorted(values, 99);
  return s;
}

Bins make_bins(const std::vector<double>& values, int n, bool log_scale) {
  if (n < 1) n = 1;
  Bins b;
  b.log_scale = log_scale;
  b.counts.assign(static_cast<std::size_t>(n), 0);

  // Work on the axis coordinate: the value itself, or its log10.
  std::vector<double> xs;
  xs.reserve(values.size());
  for (double v : values) {
    if (std::isnan(v) || (log_scale && !(v > 0))) {
      ++b.skipped;
      continue;
    }
    xs.push_back(log_scale ? std::log10(v) : v);
  }

  double lo, hi;
  if (xs.empty()) {
    lo = log_scale ? -1 : 0;
    hi = log_scale ? 0 : 1;
  } else {
    auto [mn, mx] = std::minmax_element(xs.begin(), xs.end());
    lo = *mn;
    hi = *mx;
    if (!(hi > lo)) {
      if (log_scale) {
        lo -= std::log10(2.0);
        hi += std::log10(2.0);
      } else if (lo == 0) {
        lo = -0.5;
        hi = 0.5;
      } else {
        double half = std::fabs(lo) * 0.5;
        lo -= half;
        hi += half;
      }
    }
  }

  const double step = (hi - lo) / n;
  b.edges.resize(static_cast<std::size_t>(n) + 1);
  for (int i = 0; i <= n; ++i) {
    double x = i == n ? hi : lo + step * i;
    b.edges[static_cast<std::size_t>(i)] = log_scale ? std::pow(10.0, x) : x;
  }
  for (double x : xs) {
    int i = static_cast<int>(std::floor((x - lo) / step));
    i = std::clamp(i, 0, n - 1);  // the maximum belongs to the last (closed) bin
    ++b.counts[static_cast<std::size_t>(i)];
  }
  return b;
}

}  // namespace tracekit
