// src/histogram.h: log2 buckets, bcc-style rendering, percentiles, bins.
#include "output/histogram.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace tracekit;

namespace {
std::string stars(int n, int width = 40) {
  return std::string(static_cast<std::size_t>(n), '*') + std::string(static_cast<std::size_t>(width - n), ' ');
}
}  // namespace

TEST_CASE("log2_bucket edges", "[histogram]") {
  CHECK(log2_bucket(0) == 0);
  CHECK(log2_bucket(1) == 0);
  CHECK(log2_bucket(2) == 1);
  CHECK(log2_bucket(3) == 1);
  CHECK(log2_bucket(4) == 2);
  CHECK(log2_bucket(7) == 2);
  CHECK(log2_bucket(8) == 3);
  CHECK(log2_bucket(1023) == 9);
  CHECK(log2_bucket(1024) == 10);
  CHECK(log2_bucket(~0ULL) == 63);
}

TEST_CASE("Log2Histogram counts", "[histogram]") {
  Log2Histogram h;
  CHECK(h.count() == 0);
  CHECK(h.buckets().empty());
  for (std::uint64_t v : {0, 1, 5, 6, 7, 4, 9, 15}) h.add(v);
  h.add(100, 0);  // zero times: nothing
  CHECK(h.count() == 8);
  CHECK(h.buckets() == std::vector<std::uint64_t>{2, 0, 4, 2});
  h.add(3, 5);
  CHECK(h.count() == 13);
  CHECK(h.buckets() == std::vector<std::uint64_t>{2, 5, 4, 2});
}

TEST_CASE("format_log2_hist matches bcc's print_log2_hist layout", "[histogram]") {
  const std::string expected =
      "     usecs               : count    distribution\n"
      "         0 -> 1          : 1        |" +
      stars(10) +
      "|\n"
      "         2 -> 3          : 0        |" +
      stars(0) +
      "|\n"
      "         4 -> 7          : 4        |" +
      stars(40) +
      "|\n"
      "         8 -> 15         : 2        |" +
      stars(20) + "|\n";
  CHECK(format_log2_hist({1, 0, 4, 2}, "usecs") == expected);
}

TEST_CASE("format_log2_hist: trailing empty buckets are not printed, empty gives empty", "[histogram]") {
  CHECK(format_log2_hist({}, "usecs").empty());
  CHECK(format_log2_hist({0, 0, 0}, "usecs").empty());
  const std::string expected =
      "     msecs               : count    distribution\n"
      "         0 -> 1          : 0        |" +
      stars(0) +
      "|\n"
      "         2 -> 3          : 3        |" +
      stars(40) + "|\n";
  CHECK(format_log2_hist({0, 3, 0, 0}, "msecs") == expected);
}

TEST_CASE("format_log2_hist: large ranges switch to wide columns and 20 stars", "[histogram]") {
  std::vector<std::uint64_t> b(35, 0);
  b[0] = 2;
  b[34] = 1;
  std::string out = format_log2_hist(b, "nsecs");
  auto first_nl = out.find('\n');
  CHECK(out.substr(0, first_nl) == std::string(15, ' ') + "nsecs" + std::string(24, ' ') + " : count    distribution");
  CHECK(out.find("                   0 -> 1                    : 2        |" + stars(20, 20) + "|\n") !=
        std::string::npos);
  CHECK(out.find("         17179869184 -> 34359738367          : 1        |" + stars(10, 20) + "|\n") !=
        std::string::npos);
  // header + 35 bucket lines
  CHECK(std::count(out.begin(), out.end(), '\n') == 36);
}

TEST_CASE("percentiles are nearest-rank", "[histogram]") {
  std::vector<double> v;
  for (int i = 1; i <= 10; ++i) v.push_back(i);
  CHECK(percentile_sorted(v, 50) == 5);
  CHECK(percentile_sorted(v, 90) == 9);
  CHECK(percentile_sorted(v, 99) == 10);
  CHECK(percentile_sorted(v, 100) == 10);
  CHECK(percentile_sorted(v, 1) == 1);
  CHECK(percentile_sorted({}, 50) == 0);
  CHECK(percentile_sorted({7.5}, 50) == 7.5);

  std::vector<double> h;
  for (int i = 1; i <= 100; ++i) h.push_back(i);
  CHECK(percentile_sorted(h, 50) == 50);
  CHECK(percentile_sorted(h, 90) == 90);
  CHECK(percentile_sorted(h, 99) == 99);
}

TEST_CASE("summarize", "[histogram]") {
  Summary empty = summarize({});
  CHECK(empty.count == 0);
  CHECK(empty.max == 0);

  Summary s = summarize({0.5, 0.2, 1.0, 0.2, 0.6});  // unsorted on purpose
  CHECK(s.count == 5);
  CHECK(s.min == 0.2);
  CHECK(s.max == 1.0);
  CHECK(s.mean == Approx(0.5));
  CHECK(s.p50 == 0.5);  // rank ceil(2.5) = 3 of {0.2, 0.2, 0.5, 0.6, 1.0}
  CHECK(s.p90 == 1.0);  // rank ceil(4.5) = 5
  CHECK(s.p99 == 1.0);
}

TEST_CASE("make_bins linear", "[histogram]") {
  Bins b = make_bins({0.0, 1.0, 2.0, 3.0, 4.0, 10.0}, 5, false);
  REQUIRE(b.edges.size() == 6);
  REQUIRE(b.counts.size() == 5);
  CHECK(b.edges.front() == 0.0);
  CHECK(b.edges.back() == 10.0);
  CHECK(b.edges[1] == Approx(2.0));
  CHECK(b.counts == std::vector<std::uint64_t>{2, 2, 1, 0, 1});  // 10 lands in the last (closed) bin
  CHECK(b.skipped == 0);
  CHECK_FALSE(b.log_scale);
}

TEST_CASE("make_bins log", "[histogram]") {
  Bins b = make_bins({0.001, 0.01, 0.1, 1.0, 0.0, -1.0}, 3, true);
  REQUIRE(b.edges.size() == 4);
  CHECK(b.edges[0] == Approx(0.001));
  CHECK(b.edges[1] == Approx(0.01));
  CHECK(b.edges[2] == Approx(0.1));
  CHECK(b.edges[3] == Approx(1.0));
  CHECK(b.counts == std::vector<std::uint64_t>{1, 1, 2});
  CHECK(b.skipped == 2);  // 0 and -1 cannot be placed on a log axis
  CHECK(b.log_scale);
}

TEST_CASE("make_bins degenerate inputs", "[histogram]") {
  Bins one = make_bins({0.5}, 4, false);
  CHECK(one.edges.front() == Approx(0.25));
  CHECK(one.edges.back() == Approx(0.75));
  CHECK(one.counts[0] + one.counts[1] + one.counts[2] + one.counts[3] == 1);

  Bins zero = make_bins({0.0, 0.0}, 2, false);
  CHECK(zero.edges.front() == Approx(-0.5));
  CHECK(zero.edges.back() == Approx(0.5));
  CHECK(zero.counts == std::vector<std::uint64_t>{0, 2});

  Bins same_log = make_bins({2.0, 2.0, 2.0}, 2, true);
  CHECK(same_log.edges.front() == Approx(1.0));
  CHECK(same_log.edges.back() == Approx(4.0));
  CHECK(same_log.counts == std::vector<std::uint64_t>{0, 3});

  Bins none = make_bins({}, 3, false);
  CHECK(none.edges.front() == 0.0);
  CHECK(none.edges.back() == 1.0);
  CHECK(none.counts == std::vector<std::uint64_t>{0, 0, 0});

  Bins nan = make_bins({std::numeric_limits<double>::quiet_NaN(), 1.0}, 0, false);  // n < 1 -> 1
  CHECK(nan.counts == std::vector<std::uint64_t>{1});
  CHECK(nan.skipped == 1);
}
