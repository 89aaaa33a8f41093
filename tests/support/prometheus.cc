#include "prometheus.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "faults.h"
#include "netns.h"

namespace promtest {
namespace {
using Clock = std::chrono::steady_clock;

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string tail(const std::string& text, size_t n = 2000) {
  return text.size() > n ? text.substr(text.size() - n) : text;
}

}  // namespace

HttpResult http_get(uint16_t port, const std::string& path, double timeout_s) {
  HttpResult r;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = "socket failed";
    return r;
  }
  timeval tv{static_cast<time_t>(timeout_s),
             static_cast<suseconds_t>((timeout_s - static_cast<long>(timeout_s)) * 1e6)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    r.error = "connect failed";
    close(fd);
    return r;
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    r.error = "send failed";
    close(fd);
    return r;
  }
  std::string all;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  char buf[65536];
  while (Clock::now() < deadline) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      all.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    r.error = "recv failed or timed out";
    close(fd);
    return r;
  }
  close(fd);
  size_t sp = all.find(' ');
  size_t end = all.find("\r\n\r\n");
  if (sp == std::string::npos || end == std::string::npos) {
    r.error = "not an HTTP answer";
    return r;
  }
  r.status = std::atoi(all.c_str() + sp + 1);
  r.body = all.substr(end + 4);
  return r;
}

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("free_port: bind");
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::vector<Sample> parse_exposition(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"')
          throw std::runtime_error("bad labels: " + line);
        std::string key = line.substr(i, eq - i);
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        if (j >= line.size()) throw std::runtime_error("unterminated label value: " + line);
        s.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) throw std::runtime_error("unterminated labels: " + line);
      ++i;
    }
    while (i < line.size() && line[i] == ' ') ++i;
    std::string value = line.substr(i);
    size_t sp = value.find(' ');
    if (sp != std::string::npos) value.resize(sp);
    if (value.empty()) throw std::runtime_error("no value: " + line);
    if (value == "+Inf")
      s.value = HUGE_VAL;
    else if (value == "-Inf")
      s.value = -HUGE_VAL;
    else
      s.value = std::strtod(value.c_str(), nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Sample> find(const std::vector<Sample>& samples, const std::string& name,
                         const std::map<std::string, std::string>& match) {
  std::vector<Sample> out;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : match) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) ok = false;
    }
    if (ok) out.push_back(s);
  }
  return out;
}

double sum(const std::vector<Sample>& samples, const std::string& name,
           const std::map<std::string, std::string>& match) {
  double total = 0;
  for (const auto& s : find(samples, name, match)) total += s.value;
  return total;
}

Daemon::Daemon(const std::vector<std::string>& argv, const std::string& log_path) : log_(log_path) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setpgid(0, 0);
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int null = open("/dev/null", O_RDONLY);
    if (fd < 0 || null < 0) _exit(126);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

bool Daemon::running() {
  if (pid_ <= 0) return false;
  int st;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

Daemon::~Daemon() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {  // 5 s
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  int st;
  waitpid(pid_, &st, 0);
}

bool Daemon::answers(uint16_t port, const std::string& path, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < deadline && running()) {
    if (http_get(port, path, 2).status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::string Daemon::log() const { return faults::read_file(log_); }

PromServer::PromServer(const std::vector<std::pair<std::string, std::string>>& targets) {
  char tmpl[] = "/tmp/tkprom-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  {
    std::ofstream cfg(dir_ + "/prometheus.yml");
    cfg << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n";
    for (const auto& [job, target] : targets)
      cfg << "  - job_name: '" << job << "'\n    static_configs:\n      - targets: ['" << target << "']\n";
  }
  port_ = free_port();
  daemon_ = std::make_unique<Daemon>(
      std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + dir_ + "/prometheus.yml",
                               "--storage.tsdb.path=" + dir_ + "/data",
                               "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"},
      dir_ + "/prometheus.log");
  if (daemon_->answers(port_, "/-/ready", 30)) return;
  std::string why = "prometheus did not become ready: " + tail(daemon_->log());
  daemon_.reset();
  testnet::sh("rm -rf '" + dir_ + "'");
  throw std::runtime_error(why);
}

PromServer::~PromServer() {
  daemon_.reset();
  testnet::sh("rm -rf '" + dir_ + "'");
}

std::string PromServer::log() const { return daemon_ ? daemon_->log() : std::string(); }

std::vector<std::pair<std::map<std::string, std::string>, double>> PromServer::query(const std::string& promql) {
  HttpResult r = http_get(port_, "/api/v1/query?query=" + url_encode(promql), 5);
  if (r.status != 200)
    throw std::runtime_error("query " + promql + ": HTTP " + std::to_string(r.status) + " " + r.error + " " + r.body);
  auto j = nlohmann::json::parse(r.body);
  if (j.value("status", "") != "success") throw std::runtime_error("query " + promql + ": " + r.body);
  std::vector<std::pair<std::map<std::string, std::string>, double>> out;
  const auto& data = j["data"];
  auto num = [](const nlohmann::json& v) { return std::strtod(v[1].get<std::string>().c_str(), nullptr); };
  if (data["resultType"] == "scalar") {
    out.emplace_back(std::map<std::string, std::string>{}, num(data["result"]));
    return out;
  }
  for (const auto& s : data["result"]) {
    std::map<std::string, std::string> labels;
    for (auto it = s["metric"].begin(); it != s["metric"].end(); ++it) labels[it.key()] = it.value().get<std::string>();
    out.emplace_back(std::move(labels), num(s["value"]));
  }
  return out;
}

std::optional<double> PromServer::value(const std::string& promql) {
  auto r = query(promql);
  if (r.size() != 1) return std::nullopt;
  return r[0].second;
}

std::optional<double> PromServer::wait_for(const std::string& promql, const std::function<bool(double)>& pred,
                                           double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  std::optional<double> v;
  for (;;) {
    v = value(promql);
    if (v && pred(*v)) return v;
    if (Clock::now() >= deadline) return v;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

bool PromServer::wait_scraped(double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    auto all = query("up");
    bool ok = !all.empty();
    for (const auto& s : all) ok = ok && s.second == 1;
    if (ok) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

NodeExporter::NodeExporter(const std::string& textfile_dir) {
  char tmpl[] = "/tmp/tknode-XXXXXX.log";
  int fd = mkstemps(tmpl, 4);
  if (fd < 0) throw std::runtime_error("mkstemps failed");
  close(fd);
  log_path_ = tmpl;
  port_ = free_port();
  daemon_ = std::make_unique<Daemon>(
      std::vector<std::string>{"/usr/bin/prometheus-node-exporter", "--collector.disable-defaults",
                               "--collector.textfile", "--collector.textfile.directory=" + textfile_dir,
                               "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"},
      log_path_);
  if (daemon_->answers(port_, "/metrics", 20)) return;
  std::string why = "node_exporter did not answer: " + tail(daemon_->log());
  daemon_.reset();
  unlink(log_path_.c_str());
  throw std::runtime_error(why);
}

NodeExporter::~NodeExporter() {
  daemon_.reset();
  unlink(log_path_.c_str());
}

std::string NodeExporter::log() const { return daemon_ ? daemon_->log() : std::string(); }

namespace {
CheckResult promtool(const std::string& args, const std::string* stdin_text) {
  CheckResult r;
  std::string cmd = "/usr/bin/promtool " + args;
  std::string in_path;
  if (stdin_text) {
    char tmpl[] = "/tmp/tkpromtool-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    close(fd);
    in_path = tmpl;
    std::ofstream(in_path) << *stdin_text;
    cmd += " < " + in_path;
  }
  auto res = testnet::sh(cmd, 30);
  if (!in_path.empty()) unlink(in_path.c_str());
  r.rc = res.rc;
  r.out = res.out;
  return r;
}
}  // namespace

CheckResult promtool_check_metrics(const std::string& text) { return promtool("check metrics", &text); }
CheckResult promtool_check_rules(const std::string& path) { return promtool("check rules '" + path + "'", nullptr); }

}  // namespace promtest
