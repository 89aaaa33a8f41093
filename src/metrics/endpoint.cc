// See endpoint.h.
#include "metrics/endpoint.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CivetServer.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "util/error.h"
#include "util/fd.h"

namespace tracekit {

namespace {

std::string errno_text(int e = errno) { return std::strerror(e); }

bool parse_port(const std::string& s, uint16_t& port) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  const long v = std::stol(s);
  if (v < 1 || v > 65535) return false;
  port = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

std::string ListenAddress::civet() const { return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port); }
std::string ListenAddress::text() const { return civet(); }

ListenAddress parse_listen_address(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return UsageError("bad value for --metrics: '" + text + "' (" + why + ")",
                      "give PORT, ADDR:PORT or [IPV6]:PORT, e.g. 9435 or 0.0.0.0:9435");
  };
  ListenAddress a;
  std::string host, port;
  if (text.find(':') == std::string::npos) {
    host = "127.0.0.1";
    port = text;
  } else if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw bad("an IPv6 address is written [ADDR]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) throw bad("an IPv6 address is written [ADDR]:PORT");
    if (host.empty()) host = "127.0.0.1";
  }
  if (!parse_port(port, a.port)) throw bad("the port must be a number from 1 to 65535");
  if (host == "localhost") host = "127.0.0.1";
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    a.ipv6 = false;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    a.ipv6 = true;
  } else {
    throw bad("'" + host + "' is not a numeric IPv4 or IPv6 address");
  }
  a.host = host;
  return a;
}

class MetricsServer::Collector : public prometheus::Collectable {
 public:
  explicit Collector(CollectFn fn) : fn_(std::move(fn)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    try {
      return fn_();
    } catch (const std::exception&) {
      return {};  // the scrape shows the exposer's own metrics only; the tool goes on
    }
  }

 private:
  CollectFn fn_;
};

namespace {

// Binds (and releases) the address the way the server will, for a clear reason.
void check_bindable(const ListenAddress& a) {
  const std::string where = "cannot serve metrics on " + a.text();
  UniqueFd fd(::socket(a.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw Error(where + ": " + errno_text());
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (a.ipv6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(a.port);
    ::inet_pton(AF_INET6, a.host.c_str(), &sa.sin6_addr);
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(a.port);
    ::inet_pton(AF_INET, a.host.c_str(), &sa.sin_addr);
    rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  if (rc == 0 && ::listen(fd.get(), 1) == 0) return;
  const int e = errno;
  if (e == EADDRINUSE) throw Error(where + ": the port is in use", "pick another port");
  if (e == EADDRNOTAVAIL) throw Error(where + ": the address is not one of this host's");
  if (e == EACCES) throw Error(where + ": a port below 1024 needs CAP_NET_BIND_SERVICE");
  throw Error(where + ": " + errno_text(e));
}

// In the calling thread only (capabilities are per thread): none left but `keep`.
void drop_thread_capabilities(bool keep_bind_service) {
  cap_t caps = cap_init();
  if (!caps) throw Error("cannot drop capabilities: " + errno_text());
  if (keep_bind_service) {
    cap_value_t v = CAP_NET_BIND_SERVICE;
    cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
    cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
  }
  const int rc = cap_set_proc(caps);
  cap_free(caps);
  if (rc != 0) throw Error("cannot drop capabilities: " + errno_text());
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0) throw Error("cannot set no_new_privs: " + errno_text());
}

// civetweb's own reason for a failed start (it logs before returning no context).
std::mutex civet_log_mu;
std::string civet_log;

int log_civet_message(const mg_connection*, const char* message) {
  std::lock_guard<std::mutex> lock(civet_log_mu);
  if (civet_log.empty() && message) civet_log = message;
  return 1;  // handled: civetweb prints nothing itself
}

}  // namespace

MetricsServer::MetricsServer(const ListenAddress& address, CollectFn collect)
    : collector_(std::make_shared<Collector>(std::move(collect))) {
  check_bindable(address);
  std::exception_ptr failed;
  // civetweb's threads are clones of this one and inherit its (empty) capability sets.
  std::thread starter([&] {
    try {
      drop_thread_capabilities(address.port < 1024);
      CivetCallbacks callbacks;
      callbacks.log_message = log_civet_message;
      exposer_ = std::make_unique<prometheus::Exposer>(address.civet(), 1, &callbacks);
    } catch (const Error&) {
      failed = std::current_exception();
    } catch (const std::exception& e) {
      std::string why;
      {
        std::lock_guard<std::mutex> lock(civet_log_mu);
        why = civet_log.empty() ? e.what() : civet_log;
      }
      try {
        throw Error("cannot serve metrics on " + address.text() + ": " + why);
      } catch (...) {
        failed = std::current_exception();
      }
    }
  });
  starter.join();
  if (failed) std::rethrow_exception(failed);
  exposer_->RegisterCollectable(collector_);
  auto ports = exposer_->GetListeningPorts();
  port_ = ports.empty() ? address.port : static_cast<uint16_t>(ports.front());
}

MetricsServer::~MetricsServer() {
  if (exposer_) exposer_->RemoveCollectable(collector_);
  exposer_.reset();
}

MetricsTextfile::MetricsTextfile(const std::string& dir, const std::string& name)
    : dir_(dir), name_(name), path_(dir + "/" + name) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    throw Error("cannot write metrics to " + dir + ": " + errno_text(), "create the directory first");
  if (!S_ISDIR(st.st_mode)) throw Error("cannot write metrics to " + dir + ": not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) throw Error("cannot write metrics to " + dir + ": " + errno_text());
}

std::string MetricsTextfile::write(const std::string& text) {
  const std::string tmp = dir_ + "/." + name_ + "." + std::to_string(::getpid()) + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) return "cannot write " + tmp + ": " + errno_text();
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = "cannot write " + tmp + ": " + errno_text();
      ::unlink(tmp.c_str());
      return why;
    }
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd.get(), 0644) != 0 || ::fsync(fd.get()) != 0) {
    const std::string why = "cannot write " + tmp + ": " + errno_text();
    ::unlink(tmp.c_str());
    return why;
  }
  fd.reset();
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const std::string why = "cannot rename " + tmp + " to " + path_ + ": " + errno_text();
    ::unlink(tmp.c_str());
    return why;
  }
  return {};
}

}  // namespace tracekit
