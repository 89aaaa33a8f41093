// Where metrics go: an HTTP endpoint (--metrics ADDR:PORT) and a textfile for
// node_exporter (--metrics-textfile DIR).
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace prometheus {
class Exposer;
}

namespace tracekit {

// --metrics: "PORT" (127.0.0.1), "ADDR:PORT", "[V6ADDR]:PORT"; ADDR is numeric or
// "localhost". Throws UsageError for anything else.
struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0"
  uint16_t port = 0;
  bool ipv6 = false;
  std::string civet() const;  // "127.0.0.1:9435", "[::1]:9435" (civetweb's listening_ports)
  std::string text() const;   // as the user would write it back
};
ListenAddress parse_listen_address(const std::string& text);

using CollectFn = std::function<std::vector<prometheus::MetricFamily>()>;

// GET /metrics on `address`, answered by `collect` on the server's own thread.
//
// The socket is bound here: a port in use or an address not on this host is one Error
// (exit 1). The server's threads are started from a thread that gave up every
// capability first (CAP_NET_BIND_SERVICE kept for a port below 1024), so they never
// hold root's capabilities, whatever the main thread keeps; they only read BPF maps
// through the descriptors the main thread opened.
class MetricsServer {
 public:
  MetricsServer(const ListenAddress& address, CollectFn collect);
  ~MetricsServer();  // stops the server: no collect() runs after it returns
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  uint16_t port() const { return port_; }

 private:
  class Collector;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  uint16_t port_ = 0;
};

// DIR/<name>: written whole each time, through a temporary file in DIR (ignored by
// node_exporter: it does not end in .prom), fsync'd and renamed over the old one, mode
// 0644 so node_exporter's user can read it.
class MetricsTextfile {
 public:
  // Checks now that DIR is a directory it can write to (Error, exit 1).
  MetricsTextfile(const std::string& dir, const std::string& name);
  // Returns "" or why the file could not be written.
  std::string write(const std::string& text);
  const std::string& path() const { return path_; }

 private:
  std::string dir_, name_, path_;
};

}  // namespace tracekit
