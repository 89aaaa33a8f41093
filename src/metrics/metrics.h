// Prometheus metrics (docs/metrics.md): what a tool builds at each collection, the cap
// on label sets that grow with the workload, and the two ways out: an HTTP /metrics
// endpoint (prometheus-cpp's pull exposer) and a textfile for node_exporter.
//
// A collection builds the families from scratch (MetricsBuilder): counters come from
// monotonic sources (BPF maps that only grow, or accumulators in user space such as
// CappedSeries), so nothing is stored between scrapes but the accumulators.
//
// Label values are exact strings: valid UTF-8 as is; a value that is not valid UTF-8 is
// written in the escaped form of output/strings.h (invalid bytes as \xHH, backslashes
// doubled), since the exposition format is UTF-8. prometheus-cpp's serializer then
// escapes backslash, double quote and newline as the format requires.
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tracekit {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Buckets of one histogram series: counts per bucket (not cumulative), the last one
// for values above every bound (+Inf).
struct HistogramData {
  std::vector<double> bounds;  // upper bounds, increasing
  std::vector<uint64_t> counts;
  double sum = 0;
  uint64_t count = 0;

  explicit HistogramData(std::vector<double> upper_bounds = {});
  void observe(double v);
};

// 100 us to 1 h: 100 us * 2^k for k = 0..25 (to 3355 s), then 3600 s.
std::vector<double> duration_buckets_seconds();

// The families of one collection, in the order they were first named.
class MetricsBuilder {
 public:
  void counter(const std::string& name, const std::string& help, const MetricLabels& labels, double value);
  void gauge(const std::string& name, const std::string& help, const MetricLabels& labels, double value);
  void histogram(const std::string& name, const std::string& help, const MetricLabels& labels, const HistogramData& h);
  // Names a family without series (HELP and TYPE still tell what it would hold).
  void declare(const std::string& name, const std::string& help, prometheus::MetricType type);
  std::vector<prometheus::MetricFamily> take() { return std::move(families_); }
  const std::vector<prometheus::MetricFamily>& families() const { return families_; }

 private:
  prometheus::ClientMetric& add(const std::string& name, const std::string& help, prometheus::MetricType type,
                                const MetricLabels& labels);
  std::vector<prometheus::MetricFamily> families_;
  std::map<std::string, size_t, std::less<>> index_;
};

// The text exposition format (version 0.0.4).
std::string render_metrics(const std::vector<prometheus::MetricFamily>& families);

// Counters by label set, for labels that grow with the workload (uid, comm, remote
// address): at most `max_series` label sets per family, one of them the fold "other".
//
// add() accumulates deltas. A label set seen for the first time waits until the next
// settle() (done by each collection): then the waiting sets get their own series,
// busiest first (by value 0), while fewer than max_series - 1 are taken; the others are
// added to the fold, whose every label says "other". A label set that has its own
// series keeps it for the whole run, so every series, the fold included, only grows:
// counters never go down and the sum over all series is the exact total. Once every
// place is taken, new label sets go straight to the fold: memory stays bounded.
class CappedSeries {
 public:
  // `values`: counters per label set (tcp_tracker: bytes, packets, segments).
  CappedSeries(std::vector<std::string> label_names, size_t values, size_t max_series);

  void add(const std::vector<std::string>& label_values, const uint64_t* deltas);
  void add(const std::vector<std::string>& label_values, uint64_t delta) { add(label_values, &delta); }
  void settle();

  // After settle(): each series with its labels (`fixed` first) as counter `names[v]`.
  void emit(MetricsBuilder& out, const std::vector<std::string>& names, const std::vector<std::string>& helps,
            const MetricLabels& fixed = {});

  size_t series() const { return own_.size() + (folded_ ? 1 : 0); }
  uint64_t total(size_t value = 0) const;  // over every series

 private:
  using Values = std::vector<uint64_t>;
  void accumulate(Values& into, const uint64_t* deltas) const;
  std::vector<std::string> names_;
  size_t values_;
  size_t max_series_;
  std::map<std::vector<std::string>, Values> own_;
  std::map<std::vector<std::string>, Values> waiting_;
  Values other_;
  bool folded_ = false;
};

}  // namespace tracekit
