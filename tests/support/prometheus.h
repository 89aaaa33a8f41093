// Real Prometheus for the metrics tests (root suites): Debian's prometheus and
// prometheus-node-exporter binaries run by the test itself on 127.0.0.1, each with its
// own config and data in a temporary directory, stopped and removed by destructors.
//
//   promtest::PromServer prom({{"tool", "127.0.0.1:" + std::to_string(port)}});
//   auto v = prom.wait_for("sum(tracekit_execve_total{uid=\"4242\"})", [](double x) { return x >= 23; });
//
// Every wait is bounded; nothing listens anywhere but 127.0.0.1.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace promtest {

struct HttpResult {
  int status = -1;  // HTTP status, -1 when no answer
  std::string body;
  std::string error;
};
// GET http://127.0.0.1:port<path> (HTTP/1.0, whole body), bounded by timeout_s.
HttpResult http_get(uint16_t port, const std::string& path, double timeout_s = 5);

// A TCP port on 127.0.0.1 free right now (bound to 0, read, closed).
uint16_t free_port();

// One sample line of the text exposition format.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};
// Parses the text format (comments skipped; label values unescaped). Throws
// std::runtime_error on a line it cannot read.
std::vector<Sample> parse_exposition(const std::string& text);
// Samples named `name` whose labels include every pair of `match`.
std::vector<Sample> find(const std::vector<Sample>& samples, const std::string& name,
                         const std::map<std::string, std::string>& match = {});
double sum(const std::vector<Sample>& samples, const std::string& name,
           const std::map<std::string, std::string>& match = {});

// A child process with its output in a log file; SIGTERM then SIGKILL on destruction.
class Daemon {
 public:
  Daemon(const std::vector<std::string>& argv, const std::string& log_path);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  pid_t pid() const { return pid_; }
  bool running();
  // Polls GET 127.0.0.1:port<path> until it answers 200 (true), the process ends or
  // timeout_s passes (false).
  bool answers(uint16_t port, const std::string& path, double timeout_s);
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::string log_;
};

// /usr/bin/prometheus scraping `targets` ({job, "127.0.0.1:PORT"}) every second.
class PromServer {
 public:
  // Throws std::runtime_error (with the log's tail) when it is not ready within 30 s.
  explicit PromServer(const std::vector<std::pair<std::string, std::string>>& targets);
  ~PromServer();  // stops it and removes its directory
  PromServer(const PromServer&) = delete;
  PromServer& operator=(const PromServer&) = delete;

  uint16_t port() const { return port_; }
  // An instant query's results: labels and value of each series (a scalar: one
  // unlabelled entry). Throws std::runtime_error when Prometheus answers with an error.
  std::vector<std::pair<std::map<std::string, std::string>, double>> query(const std::string& promql);
  // The value of a query that yields one series (or a scalar); nullopt for none.
  std::optional<double> value(const std::string& promql);
  // Polls value() every 250 ms until pred holds or timeout_s passes; returns the last value.
  std::optional<double> wait_for(const std::string& promql, const std::function<bool(double)>& pred,
                                 double timeout_s = 20);
  // Waits until every target has been scraped successfully (up == 1).
  bool wait_scraped(double timeout_s = 20);
  std::string log() const;

 private:
  std::string dir_;
  uint16_t port_ = 0;
  std::unique_ptr<Daemon> daemon_;
};

// /usr/bin/prometheus-node-exporter with only its textfile collector, reading `dir`.
class NodeExporter {
 public:
  explicit NodeExporter(const std::string& textfile_dir);
  ~NodeExporter();
  NodeExporter(const NodeExporter&) = delete;
  NodeExporter& operator=(const NodeExporter&) = delete;
  uint16_t port() const { return port_; }
  std::string log() const;

 private:
  std::string log_path_;
  uint16_t port_ = 0;
  std::unique_ptr<Daemon> daemon_;
};

struct CheckResult {
  int rc = -1;
  std::string out;  // promtool's stdout and stderr
};
// promtool check metrics < text
CheckResult promtool_check_metrics(const std::string& text);
// promtool check rules FILE
CheckResult promtool_check_rules(const std::string& path);

}  // namespace promtest
