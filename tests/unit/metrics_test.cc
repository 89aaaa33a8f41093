// Metrics (metrics/metrics.h, metrics/endpoint.h): the exposition of fixed inputs, label
// escaping, the series cap and its "other" fold, histogram buckets, --metrics addresses,
// the textfile's atomic write, --quiet.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "metrics/endpoint.h"
#include "metrics/metrics.h"
#include "output/sink.h"
#include "util/error.h"

using namespace tracekit;

namespace {
std::string render(MetricsBuilder& b) { return render_metrics(b.take()); }

// The value of the one sample line that starts with `series` ("name{labels}").
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  double v = -1;
  int found = 0;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) {
      v = std::stod(line.substr(series.size() + 1));
      ++found;
    }
  REQUIRE(found == 1);
  return v;
}

int lines_starting(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.rfind(prefix, 0) == 0;
  return n;
}
}  // namespace

TEST_CASE("metrics: a counter and a gauge in the text format with HELP and TYPE", "[metrics]") {
  MetricsBuilder b;
  b.counter("tracekit_execve_total", "execve() calls.", {{"tool", "execve_dumb"}, {"uid", "0"}}, 23);
  b.counter("tracekit_execve_total", "execve() calls.", {{"tool", "execve_dumb"}, {"uid", "1000"}}, 7);
  b.gauge("tracekit_map_entries", "Entries in this BPF map now.", {{"map", "counts"}}, 2);
  const std::string text = render(b);
  CHECK(text ==
        "# HELP tracekit_execve_total execve() calls.\n"
        "# TYPE tracekit_execve_total counter\n"
        "tracekit_execve_total{tool=\"execve_dumb\",uid=\"0\"} 23\n"
        "tracekit_execve_total{tool=\"execve_dumb\",uid=\"1000\"} 7\n"
        "# HELP tracekit_map_entries Entries in this BPF map now.\n"
        "# TYPE tracekit_map_entries gauge\n"
        "tracekit_map_entries{map=\"counts\"} 2\n");
}

TEST_CASE("metrics: label values escape quotes, backslashes and newlines; UTF-8 stays", "[metrics]") {
  MetricsBuilder b;
  b.counter("t_total", "h", {{"comm", "a\"b"}}, 1);
  b.counter("t_total", "h", {{"comm", "c:\\d"}}, 2);
  b.counter("t_total", "h", {{"comm", "two\nlines"}}, 3);
  b.counter("t_total", "h", {{"comm", "caf\xc3\xa9 \xe2\x9c\x93"}}, 4);  // café ✓
  b.counter("t_total", "h", {{"comm", std::string("bad\xff\xfe", 5)}}, 5);
  const std::string text = render(b);
  CHECK(sample(text, "t_total{comm=\"a\\\"b\"}") == 1);
  CHECK(sample(text, "t_total{comm=\"c:\\\\d\"}") == 2);
  CHECK(sample(text, "t_total{comm=\"two\\nlines\"}") == 3);
  CHECK(sample(text, "t_total{comm=\"caf\xc3\xa9 \xe2\x9c\x93\"}") == 4);
  // Not UTF-8: the escaped form (\xff as four characters), whose backslash the format doubles.
  CHECK(sample(text, "t_total{comm=\"bad\\\\xff\\\\xfe\"}") == 5);
  CHECK(lines_starting(text, "t_total{") == 5);
}

TEST_CASE("metrics: a declared family with no series still has HELP and TYPE", "[metrics]") {
  MetricsBuilder b;
  b.declare("tracekit_exec_events_total", "Exec events.", prometheus::MetricType::Counter);
  const std::string text = render(b);
  CHECK(text.find("# TYPE tracekit_exec_events_total counter\n") != std::string::npos);
  CHECK(lines_starting(text, "tracekit_exec_events_total") == 0);
}

TEST_CASE("metrics: histogram buckets are cumulative, le inclusive, +Inf is the count", "[metrics]") {
  HistogramData h({0.001, 0.01, 0.1});
  for (double v : {0.0005, 0.001, 0.002, 0.05, 0.05, 7.0}) h.observe(v);
  MetricsBuilder b;
  b.histogram("d_seconds", "Durations.", {{"end", "fin"}}, h);
  const std::string text = render(b);
  CHECK(text.find("# TYPE d_seconds histogram\n") != std::string::npos);
  CHECK(sample(text, "d_seconds_bucket{end=\"fin\",le=\"0.001\"}") == 2);
  CHECK(sample(text, "d_seconds_bucket{end=\"fin\",le=\"0.01\"}") == 3);
  CHECK(sample(text, "d_seconds_bucket{end=\"fin\",le=\"0.1\"}") == 5);
  CHECK(sample(text, "d_seconds_bucket{end=\"fin\",le=\"+Inf\"}") == 6);
  CHECK(sample(text, "d_seconds_count{end=\"fin\"}") == 6);
  CHECK(sample(text, "d_seconds_sum{end=\"fin\"}") == Approx(7.1035));
}

TEST_CASE("metrics: duration buckets run from 100 us to 1 h, doubling", "[metrics]") {
  const auto b = duration_buckets_seconds();
  REQUIRE(b.size() == 27);
  CHECK(b.front() == Approx(1e-4));
  CHECK(b.back() == 3600);
  for (size_t i = 1; i + 1 < b.size(); ++i) CHECK(b[i] == Approx(2 * b[i - 1]));
  CHECK(b[b.size() - 2] < 3600);
}

TEST_CASE("metrics: the series cap keeps the busiest and folds the rest into other", "[metrics]") {
  CappedSeries s({"uid", "user"}, 1, 4);  // 3 own series + other
  s.add({"0", "root"}, 100);
  s.add({"1", "daemon"}, 5);
  s.add({"2", "bin"}, 50);
  s.add({"3", "sys"}, 70);
  s.add({"4", "sync"}, 1);
  MetricsBuilder b;
  s.emit(b, {"x_total"}, {"h"}, {{"tool", "t"}});
  std::string text = render(b);
  CHECK(lines_starting(text, "x_total{") == 4);
  CHECK(sample(text, "x_total{tool=\"t\",uid=\"0\",user=\"root\"}") == 100);
  CHECK(sample(text, "x_total{tool=\"t\",uid=\"3\",user=\"sys\"}") == 70);
  CHECK(sample(text, "x_total{tool=\"t\",uid=\"2\",user=\"bin\"}") == 50);
  CHECK(sample(text, "x_total{tool=\"t\",uid=\"other\",user=\"other\"}") == 6);
  CHECK(s.total() == 226);
  CHECK(s.series() == 4);

  // Later: an admitted set keeps its series, a folded one stays folded, new ones fold.
  s.add({"1", "daemon"}, 1000);
  s.add({"0", "root"}, 1);
  s.add({"9", "new"}, 3);
  MetricsBuilder b2;
  s.emit(b2, {"x_total"}, {"h"}, {{"tool", "t"}});
  text = render(b2);
  CHECK(lines_starting(text, "x_total{") == 4);
  CHECK(sample(text, "x_total{tool=\"t\",uid=\"0\",user=\"root\"}") == 101);
  CHECK(sample(text, "x_total{tool=\"t\",uid=\"other\",user=\"other\"}") == 1009);
  CHECK(s.total() == 1230);
}

TEST_CASE("metrics: capped series are exact and never go down under a random workload", "[metrics]") {
  std::mt19937 rng(29);
  const size_t cap = 17;
  CappedSeries s({"remote"}, 2, cap);
  uint64_t truth0 = 0, truth1 = 0;
  std::map<std::string, double> last;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 200; ++i) {
      const std::string key = std::to_string(rng() % 400);
      const uint64_t d[2] = {rng() % 1500, 1};
      truth0 += d[0];
      truth1 += d[1];
      s.add({key}, d);
    }
    MetricsBuilder b;
    s.emit(b, {"bytes_total", "packets_total"}, {"b", "p"});
    auto families = b.take();
    REQUIRE(families.size() == 2);
    double sum0 = 0, sum1 = 0;
    for (const auto& m : families[0].metric) {
      sum0 += m.counter.value;
      const std::string k = m.label[0].value;
      CHECK(m.counter.value >= last[k]);  // monotonic, the fold included
      last[k] = m.counter.value;
    }
    for (const auto& m : families[1].metric) sum1 += m.counter.value;
    CHECK(families[0].metric.size() <= cap);
    CHECK(sum0 == static_cast<double>(truth0));
    CHECK(sum1 == static_cast<double>(truth1));
  }
  CHECK(s.series() == cap);
}

TEST_CASE("metrics: a cap of 1 is only the fold", "[metrics]") {
  CappedSeries s({"comm"}, 1, 1);
  s.add({"sh"}, 2);
  s.add({"ls"}, 3);
  MetricsBuilder b;
  s.emit(b, {"e_total"}, {"h"});
  const std::string text = render(b);
  CHECK(lines_starting(text, "e_total{") == 1);
  CHECK(sample(text, "e_total{comm=\"other\"}") == 5);
}

TEST_CASE("metrics: --metrics addresses", "[metrics][cli]") {
  auto a = parse_listen_address("9435");
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 9435);
  CHECK_FALSE(a.ipv6);
  a = parse_listen_address("0.0.0.0:80");
  CHECK(a.host == "0.0.0.0");
  CHECK(a.port == 80);
  a = parse_listen_address("localhost:9000");
  CHECK(a.host == "127.0.0.1");
  a = parse_listen_address("[::1]:9435");
  CHECK(a.host == "::1");
  CHECK(a.ipv6);
  CHECK(a.civet() == "[::1]:9435");
  for (const char* bad : {"", "0", "65536", "abc", "host.example:9435", "::1:9435", "[::1]9435",
                          "[::1]:", "1.2.3.4:", "1.2.3.4:-1", "999.1.1.1:80", "9435 "}) {
    INFO(bad);
    try {
      parse_listen_address(bad);
      FAIL("accepted");
    } catch (const UsageError& e) {
      CHECK(std::string(e.what()).rfind("bad value for --metrics: '", 0) == 0);
      CHECK(e.exit_code() == 2);
    }
  }
}

TEST_CASE("metrics: the textfile is replaced whole, 0644, no temp file left", "[metrics]") {
  char tmpl[] = "/tmp/tkmetrics-unit-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  const std::string dir = tmpl;
  {
    MetricsTextfile f(dir, "execve_dumb.prom");
    CHECK(f.path() == dir + "/execve_dumb.prom");
    CHECK(f.write("a 1\n").empty());
    CHECK(f.write("b 2\n").empty());
    std::ifstream in(f.path());
    std::stringstream ss;
    ss << in.rdbuf();
    CHECK(ss.str() == "b 2\n");
    struct stat st {};
    REQUIRE(stat(f.path().c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      (void)e;
      ++files;
    }
    CHECK(files == 1);
  }
  CHECK_THROWS_AS(MetricsTextfile(dir + "/missing", "x.prom"), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("metrics: --quiet writes nothing but still renders for a tee", "[metrics][output]") {
  auto s = make_sink(false, "execve_dumb", true);
  SummaryRecord r;
  r.duration_s = 1;
  std::string rendered;
  s->render(r, rendered);
  CHECK_FALSE(rendered.empty());
  CHECK(s->error().empty());
}
