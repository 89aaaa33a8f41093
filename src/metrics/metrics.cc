// See metrics.h.
#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>

#include "output/strings.h"

namespace tracekit {

HistogramData::HistogramData(std::vector<double> upper_bounds)
    : bounds(std::move(upper_bounds)), counts(bounds.size() + 1, 0) {}

void HistogramData::observe(double v) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
  ++counts[i];  // le is inclusive: v == bound falls into that bucket
  sum += v;
  ++count;
}

std::vector<double> duration_buckets_seconds() {
  std::vector<double> b;
  for (int k = 0; k <= 25; ++k) b.push_back(1e-4 * std::ldexp(1.0, k));
  b.push_back(3600);
  return b;
}

namespace {

std::string label_value(const std::string& v) {
  if (is_valid_utf8(v)) return v;
  std::string out;
  append_escaped_form(out, v);
  return out;
}

}  // namespace

prometheus::ClientMetric& MetricsBuilder::add(const std::string& name, const std::string& help,
                                              prometheus::MetricType type, const MetricLabels& labels) {
  declare(name, help, type);
  auto& family = families_[index_.find(name)->second];
  auto& m = family.metric.emplace_back();
  for (const auto& [k, v] : labels) m.label.push_back({k, label_value(v)});
  return m;
}

void MetricsBuilder::declare(const std::string& name, const std::string& help, prometheus::MetricType type) {
  if (index_.count(name)) return;
  index_.emplace(name, families_.size());
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  families_.push_back(std::move(f));
}

void MetricsBuilder::counter(const std::string& name, const std::string& help, const MetricLabels& labels,
                             double value) {
  add(name, help, prometheus::MetricType::Counter, labels).counter.value = value;
}

void MetricsBuilder::gauge(const std::string& name, const std::string& help, const MetricLabels& labels, double value) {
  add(name, help, prometheus::MetricType::Gauge, labels).gauge.value = value;
}

void MetricsBuilder::histogram(const std::string& name, const std::string& help, const MetricLabels& labels,
                               const HistogramData& h) {
  auto& m = add(name, help, prometheus::MetricType::Histogram, labels).histogram;
  m.sample_count = h.count;
  m.sample_sum = h.sum;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    cumulative += h.counts[i];
    const double bound = i < h.bounds.size() ? h.bounds[i] : std::numeric_limits<double>::infinity();
    m.bucket.push_back({cumulative, bound});
  }
}

std::string render_metrics(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

CappedSeries::CappedSeries(std::vector<std::string> label_names, size_t values, size_t max_series)
    : names_(std::move(label_names)),
      values_(values),
      max_series_(std::max<size_t>(1, max_series)),
      other_(values, 0) {}

void CappedSeries::accumulate(Values& into, const uint64_t* deltas) const {
  for (size_t i = 0; i < values_; ++i) into[i] += deltas[i];
}

void CappedSeries::add(const std::vector<std::string>& label_values, const uint64_t* deltas) {
  if (auto it = own_.find(label_values); it != own_.end()) {
    accumulate(it->second, deltas);
    return;
  }
  if (own_.size() + 1 >= max_series_) {  // every place is taken for good
    accumulate(other_, deltas);
    folded_ = true;
    return;
  }
  auto [it, fresh] = waiting_.try_emplace(label_values, Values(values_, 0));
  accumulate(it->second, deltas);
  if (fresh && waiting_.size() > 4 * max_series_ + 1024) settle();  // bounded between collections
}

void CappedSeries::settle() {
  if (waiting_.empty()) return;
  std::vector<std::pair<const std::vector<std::string>*, Values*>> order;
  order.reserve(waiting_.size());
  for (auto& [k, v] : waiting_) order.emplace_back(&k, &v);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return (*a.second)[0] > (*b.second)[0]; });
  for (const auto& [k, v] : order) {
    if (own_.size() + 1 < max_series_) {
      own_.emplace(*k, std::move(*v));
    } else {
      accumulate(other_, v->data());
      folded_ = true;
    }
  }
  waiting_.clear();
}

void CappedSeries::emit(MetricsBuilder& out, const std::vector<std::string>& names,
                        const std::vector<std::string>& helps, const MetricLabels& fixed) {
  settle();
  auto labels_of = [&](const std::vector<std::string>* values) {
    MetricLabels l = fixed;
    for (size_t i = 0; i < names_.size(); ++i) l.emplace_back(names_[i], values ? (*values)[i] : "other");
    return l;
  };
  for (size_t v = 0; v < values_ && v < names.size(); ++v) {
    out.declare(names[v], helps[v], prometheus::MetricType::Counter);
    for (const auto& [k, vals] : own_) out.counter(names[v], helps[v], labels_of(&k), static_cast<double>(vals[v]));
    if (folded_) out.counter(names[v], helps[v], labels_of(nullptr), static_cast<double>(other_[v]));
  }
}

uint64_t CappedSeries::total(size_t value) const {
  uint64_t t = other_[value];
  for (const auto& [k, v] : own_) t += v[value];
  for (const auto& [k, v] : waiting_) t += v[value];
  return t;
}

}  // namespace tracekit
