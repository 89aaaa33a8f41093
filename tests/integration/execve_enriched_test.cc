// execve_enriched against ground truth: execs made by the test (known pid, parent, uid,
// path, argv, result) show up exactly once with those values, in text and JSON, through
// both transports; filters drop what they should in the kernel.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bpf/bpf_program.h"
#include "harness.h"
#include "jsonl.h"
#include "util/system_checks.h"

using harness::ToolProcess;

extern const char execve_enriched_bpf_text[];

namespace {

constexpr uid_t kUid = 54331;  // execs as this uid come from these tests only

// A file the test makes, removed when the test ends, however it ends.
struct RemovedAtEnd {
  std::string path;
  ~RemovedAtEnd() { std::remove(path.c_str()); }
};

// ---- the JSON lines, as a tree of values ----
struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;
  const Json& operator[](const std::string& k) const {
    static const Json null;
    auto it = obj.find(k);
    return it == obj.end() ? null : it->second;
  }
  bool has(const std::string& k) const { return obj.count(k) > 0; }
  long long i() const { return static_cast<long long>(num); }
};

// nlohmann-json parses; the test reads the values through this small tree.
Json convert(const nlohmann::json& j) {
  Json v;
  if (j.is_boolean()) {
    v.type = Json::Type::Bool;
    v.b = j.get<bool>();
  } else if (j.is_number()) {
    v.type = Json::Type::Number;
    v.num = j.get<double>();
  } else if (j.is_string()) {
    v.type = Json::Type::String;
    v.str = j.get<std::string>();
  } else if (j.is_array()) {
    v.type = Json::Type::Array;
    for (const auto& e : j) v.arr.push_back(convert(e));
  } else if (j.is_object()) {
    v.type = Json::Type::Object;
    for (const auto& [k, e] : j.items()) v.obj[k] = convert(e);
  }
  return v;
}

Json parse_json(const std::string& line) { return convert(nlohmann::json::parse(line)); }

// ---- ground truth: execs made by this process ----
struct Exec {
  pid_t pid = 0;
  uid_t uid = 0;
  std::string syscall = "execve";
  std::string path;
  std::vector<std::string> argv;
  int ret = 0;  // 0 or -errno, as the kernel returns it
};

// Forks a child that switches to `uid` and calls execve (or execveat with AT_FDCWD);
// a failed call reports its errno through the exit code (100 + errno).
Exec make_exec(uid_t uid, const std::string& path, const std::vector<std::string>& argv, bool at = false) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(99);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    char* envp[] = {nullptr};
    if (at)
      syscall(SYS_execveat, AT_FDCWD, path.c_str(), args.data(), envp, 0);
    else
      execve(path.c_str(), args.data(), envp);
    _exit(100 + errno);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  Exec e;
  e.pid = pid;
  e.uid = uid;
  e.syscall = at ? "execveat" : "execve";
  e.path = path;
  e.argv = argv;
  e.ret = WIFEXITED(status) && WEXITSTATUS(status) > 100 ? -(WEXITSTATUS(status) - 100) : 0;
  return e;
}

std::string long_arg(size_t n, char c) { return std::string(n, c); }

// The known set: plain, quoted, cut argument, too many arguments, execveat, missing file.
std::vector<Exec> make_known_execs(uid_t uid, const std::string& missing) {
  std::vector<Exec> made;
  made.push_back(make_exec(uid, "/bin/echo", {"echo", "hello", "two words"}));
  made.push_back(make_exec(uid, "/bin/echo", {"echo", long_arg(127, 'a'), long_arg(200, 'b')}));
  std::vector<std::string> many = {"true"};
  for (int i = 1; i < 25; ++i) many.push_back("arg" + std::to_string(i));
  made.push_back(make_exec(uid, "/bin/true", many));
  made.push_back(make_exec(uid, "/bin/true", {"true", "via-execveat"}, true));
  made.push_back(make_exec(uid, missing, {"missing", "x"}));
  return made;
}

std::string missing_path() { return "/nonexistent/tracekit-" + std::to_string(getpid()) + "/nothing"; }

// Reads stdout lines until `want` lines satisfy `keep` (or the timeout), then a short
// extra wait so that duplicates would be seen too.
std::vector<std::string> collect(ToolProcess& p, size_t want, double timeout_s,
                                 const std::function<bool(const std::string&)>& keep) {
  std::vector<std::string> got;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  while (got.size() < want && elapsed() < timeout_s) {
    auto line = p.next_line(0.2);
    if (line && keep(*line)) got.push_back(*line);
  }
  while (auto line = p.next_line(0.5))
    if (keep(*line)) got.push_back(*line);
  return got;
}

void check_json_event(const Json& ev, const Exec& want) {
  INFO("event for pid " << want.pid << " " << want.path);
  CHECK(ev["syscall"].str == want.syscall);
  CHECK(ev["pid"].i() == want.pid);
  CHECK(ev["tid"].i() == want.pid);
  CHECK(ev["ppid"].i() == getpid());
  CHECK(ev["uid"].i() == want.uid);
  CHECK(ev["user"].type == Json::Type::Null);  // no passwd entry for the test uid
  CHECK(ev["gid"].i() == want.uid);
  CHECK(ev["comm"].str == "integration_tes");  // the caller's comm, before the exec
  CHECK(ev["filename"].str == want.path);
  CHECK(ev["filename_truncated"].type == Json::Type::Bool);
  CHECK_FALSE(ev["filename_truncated"].b);
  CHECK(ev["ret"].i() == want.ret);
  if (want.ret < 0) {
    CHECK(ev["errno"].str == "ENOENT");
  } else {
    CHECK(ev["errno"].type == Json::Type::Null);
  }
  CHECK(ev["ts"].str.size() == 24);  // 2026-11-25T17:09:04.123Z
  CHECK(ev["tool"].str == "execve_enriched");
  CHECK(ev["type"].str == "event");
  size_t captured = std::min<size_t>(want.argv.size(), 20);
  REQUIRE(ev["args"].arr.size() == captured);
  std::vector<long long> cut;
  for (size_t i = 0; i < captured; ++i) {
    const std::string& got = ev["args"].arr[i].str;
    if (want.argv[i].size() > 127) {
      CHECK(got == want.argv[i].substr(0, 127));
      cut.push_back(static_cast<long long>(i));
    } else {
      CHECK(got == want.argv[i]);
    }
  }
  std::vector<long long> got_cut;
  for (const auto& c : ev["truncated_args"].arr) got_cut.push_back(c.i());
  CHECK(got_cut == cut);
  CHECK(ev["more_args"].b == (want.argv.size() > 20));
  CHECK_FALSE(ev["args_unreadable"].b);
  if (want.syscall == "execveat") {
    CHECK(ev["dirfd"].i() == AT_FDCWD);
  } else {
    CHECK_FALSE(ev.has("dirfd"));
  }
}

std::unique_ptr<ToolProcess> start(std::vector<std::string> args) {
  args.insert(args.begin(), harness::tool_path("execve_enriched"));
  auto p = std::make_unique<ToolProcess>(args);
  if (!p->wait_for_stderr_line("Attached", 90)) FAIL("tool did not attach: " << p->err());
  return p;
}

}  // namespace

TEST_CASE("execve_enriched --json: each exec exactly once with the right values", "[execve_enriched][json]") {
  for (const char* buffer : {"ring", "perf"}) {
    DYNAMIC_SECTION("buffer " << buffer) {
      auto p = start({"--json", "--buffer", buffer, "-u", std::to_string(kUid)});
      auto made = make_known_execs(kUid, missing_path());
      make_exec(kUid + 1, "/bin/true", {"true", "other-uid"});  // filtered in the kernel
      REQUIRE(made.back().ret == -ENOENT);

      std::vector<Json> events;
      auto lines = collect(*p, made.size(), 10, [](const std::string&) { return true; });
      for (const auto& line : lines) {
        INFO(line);
        REQUIRE_NOTHROW(events.push_back(parse_json(line)));
        REQUIRE(events.back().type == Json::Type::Object);
        CHECK(events.back()["uid"].i() == kUid);  // -u: nothing of other uids
      }
      REQUIRE(events.size() == made.size());
      for (const auto& want : made) {
        int found = 0;
        for (const auto& ev : events)
          if (ev["pid"].i() == want.pid) {
            ++found;
            check_json_event(ev, want);
          }
        CHECK(found == 1);
      }
      p->signal(SIGINT);
      CHECK(p->wait_exit(10) == 0);
      auto all = harness::json_lines(p->out(), "execve_enriched");
      REQUIRE_FALSE(all.empty());
      const auto& summary = all.back();
      CHECK(summary["type"] == "summary");
      CHECK(summary["events"] == made.size());
      CHECK(summary["printed"] == made.size());
      CHECK(summary["lost"] == 0);
      CHECK(p->out().find("sha1") == std::string::npos);
    }
  }
}

TEST_CASE("execve_enriched text output carries the same values", "[execve_enriched]") {
  for (const char* buffer : {"ring", "perf"}) {
    DYNAMIC_SECTION("buffer " << buffer) {
      auto p = start({"-T", "--buffer", buffer, "-u", std::to_string(kUid)});
      auto header = p->next_line(5);
      REQUIRE(header);
      CHECK(std::regex_match(*header, std::regex(R"(TIME +PID +PPID +UID +USER +COMM +RET +FILENAME ARGS)")));
      std::string missing = missing_path();
      std::vector<Exec> made = {make_exec(kUid, "/bin/echo", {"echo", "hello", "two words"}),
                                make_exec(kUid, missing, {"missing", "x"})};
      auto lines = collect(*p, made.size(), 10, [](const std::string&) { return true; });
      REQUIRE(lines.size() == made.size());
      std::string ppid = std::to_string(getpid());
      std::string uid = std::to_string(kUid);
      std::regex row(R"((\d\d:\d\d:\d\d) +(\d+) +(\d+) +(\d+) +(\S+) +(\S+) +(\S+) +(.*))");
      // Per-CPU perf buffers are drained one CPU after the other: two events from two
      // CPUs may come out of order. Take each line by its pid.
      if (lines[0].find(" " + std::to_string(made[1].pid) + " ") != std::string::npos) std::swap(lines[0], lines[1]);
      std::smatch m;
      REQUIRE(std::regex_match(lines[0], m, row));
      CHECK(m[2] == std::to_string(made[0].pid));
      CHECK(m[3] == ppid);
      CHECK(m[4] == uid);
      CHECK(m[5] == "-");
      CHECK(m[6] == "integration_tes");
      CHECK(m[7] == "0");
      CHECK(m[8] == "/bin/echo echo hello 'two words'");
      REQUIRE(std::regex_match(lines[1], m, row));
      CHECK(m[2] == std::to_string(made[1].pid));
      CHECK(m[7] == "-ENOENT");
      CHECK(m[8] == missing + " missing x");
      p->signal(SIGTERM);
      CHECK(p->wait_exit(10) == 0);
    }
  }
}

TEST_CASE("execve_enriched filters: --failed-only, --success-only, --ppid, --pid, --name",
          "[execve_enriched][filters]") {
  const std::string uid = std::to_string(kUid + 2);
  std::string missing = missing_path();
  auto count_events = [&](std::vector<std::string> args, const std::function<std::vector<Exec>()>& make) {
    args.insert(args.end(), {"--json", "-u", uid});
    auto p = start(args);
    auto made = make();
    auto lines = collect(*p, 1000, 3, [](const std::string&) { return true; });
    p->signal(SIGINT);
    CHECK(p->wait_exit(10) == 0);
    std::vector<Json> events;
    for (const auto& l : lines) events.push_back(parse_json(l));
    return std::make_pair(made, events);
  };
  auto two = [&] {
    return std::vector<Exec>{make_exec(kUid + 2, "/bin/true", {"true"}), make_exec(kUid + 2, missing, {"m"})};
  };
  SECTION("--failed-only") {
    auto [made, events] = count_events({"--failed-only"}, two);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["pid"].i() == made[1].pid);
    CHECK(events[0]["ret"].i() == -ENOENT);
  }
  SECTION("--success-only") {
    auto [made, events] = count_events({"--success-only"}, two);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["pid"].i() == made[0].pid);
    CHECK(events[0]["ret"].i() == 0);
  }
  SECTION("--ppid keeps children of one process only") {
    auto [made, events] = count_events({"--ppid", std::to_string(getpid())}, [&] {
      auto direct = two();
      // A grandchild: its parent is a child of ours, so it is filtered out.
      pid_t mid = fork();
      if (mid == 0) {
        make_exec(kUid + 2, "/bin/true", {"true", "grandchild"});
        _exit(0);
      }
      waitpid(mid, nullptr, 0);
      return direct;
    });
    REQUIRE(events.size() == 2);
    for (const auto& ev : events) CHECK(ev["ppid"].i() == getpid());
  }
  SECTION("--name matches the caller's command") {
    auto [made, events] = count_events({"-n", "integration"}, two);
    CHECK(events.size() == 2);
    auto none = count_events({"-n", "no-such-command"}, two);
    CHECK(none.second.empty());
  }
}

TEST_CASE("execve_enriched --pid keeps one caller", "[execve_enriched][filters]") {
  // The caller's pid must be known before it execs: a child that waits on a pipe.
  int go[2];
  REQUIRE(pipe(go) == 0);
  pid_t child = fork();
  if (child == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(98);
    if (setgroups(0, nullptr) != 0 || setgid(kUid + 3) != 0 || setuid(kUid + 3) != 0) _exit(99);
    // Strings written by this process: string literals would sit in file pages that a
    // fresh child has not touched, which BPF cannot read at sys_enter (see the docs).
    // The path too: a literal lives in a file page this child has not faulted in yet.
    char* path = strdup("/bin/true");
    char* args[] = {strdup("true"), strdup("picked"), nullptr};
    char* envp[] = {nullptr};
    execve(path, args, envp);
    _exit(127);
  }
  close(go[0]);
  auto p = start({"--json", "-p", std::to_string(child)});
  make_exec(kUid + 3, "/bin/true", {"true", "not-picked"});
  REQUIRE(write(go[1], "x", 1) == 1);
  close(go[1]);
  waitpid(child, nullptr, 0);
  auto lines = collect(*p, 1, 10, [](const std::string&) { return true; });
  REQUIRE(lines.size() == 1);
  auto ev = parse_json(lines[0]);
  CHECK(ev["pid"].i() == child);
  CHECK(ev["filename"].str == "/bin/true");
  REQUIRE(ev["args"].arr.size() == 2);
  CHECK(ev["args"].arr[1].str == "picked");
  CHECK_FALSE(ev["args_unreadable"].b);
  p->signal(SIGINT);
  CHECK(p->wait_exit(10) == 0);
}

TEST_CASE("execve_enriched reads argv of a failed exec again at sys_exit", "[execve_enriched]") {
  const uid_t uid = kUid + 6;
  auto p = start({"--json", "-u", std::to_string(uid)});
  // An executable file in no known format: execve copies argv, then fails with ENOEXEC.
  // (A missing file fails before argv is copied, so that case cannot be helped.)
  std::string missing = "/tmp/execve_enriched_noexec." + std::to_string(getpid());
  RemovedAtEnd remove_file{missing};
  {
    std::ofstream f(missing);
    f << std::string(64, '\x01');
  }
  REQUIRE(chmod(missing.c_str(), 0755) == 0);
  pid_t child = fork();
  if (child == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(99);
    // Literals: their page may be untouched in this child until the kernel reads it.
    char* args[] = {const_cast<char*>("literal-arg0"), const_cast<char*>("literal-arg1"), nullptr};
    char* envp[] = {nullptr};
    execve(missing.c_str(), args, envp);
    _exit(100 + errno);
  }
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WEXITSTATUS(status) == 100 + ENOEXEC);
  auto lines = collect(*p, 1, 10, [](const std::string&) { return true; });
  REQUIRE(lines.size() == 1);
  auto ev = parse_json(lines[0]);
  CHECK(ev["pid"].i() == child);
  CHECK(ev["ret"].i() == -ENOEXEC);
  CHECK(ev["errno"].str == "ENOEXEC");
  CHECK(ev["filename"].str == missing);
  REQUIRE(ev["args"].arr.size() == 2);
  CHECK(ev["args"].arr[0].str == "literal-arg0");
  CHECK(ev["args"].arr[1].str == "literal-arg1");
  CHECK_FALSE(ev["args_unreadable"].b);
  p->signal(SIGINT);
  CHECK(p->wait_exit(10) == 0);
}

TEST_CASE("execve_enriched takes a path sys_enter cannot read from sched_process_exec", "[execve_enriched]") {
  const uid_t uid = kUid + 7;
  auto p = start({"--json", "-u", std::to_string(uid)});
  // The path lives in a private file mapping the child never touches: no page is mapped
  // at sys_enter, so BPF cannot read it there; the kernel faults it in when it copies it.
  std::string file = "/tmp/execve_enriched_path." + std::to_string(getpid());
  RemovedAtEnd remove_file{file};
  {
    std::ofstream f(file, std::ios::binary);
    f << "/bin/true" << '\0';
  }
  pid_t child = fork();
  if (child == 0) {
    int fd = open(file.c_str(), O_RDONLY);
    void* path = fd < 0 ? MAP_FAILED : mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    if (path == MAP_FAILED) _exit(98);
    if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(99);
    char* args[] = {strdup("true"), strdup("from-exec"), nullptr};
    char* envp[] = {nullptr};
    execve(static_cast<const char*>(path), args, envp);
    _exit(100 + errno);
  }
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  auto lines = collect(*p, 1, 10, [](const std::string&) { return true; });
  REQUIRE(lines.size() == 1);
  auto ev = parse_json(lines[0]);
  CHECK(ev["pid"].i() == child);
  CHECK(ev["ret"].i() == 0);
  CHECK(ev["filename"].str == "/bin/true");
  REQUIRE(ev["args"].arr.size() == 2);
  CHECK(ev["args"].arr[1].str == "from-exec");
  CHECK_FALSE(ev["args_unreadable"].b);
  p->signal(SIGINT);
  CHECK(p->wait_exit(10) == 0);
}

TEST_CASE("execve_enriched reports an exec from a non-leader thread", "[execve_enriched]") {
  // The exec'ing thread takes over the leader's thread id, so sys_exit runs under
  // another tid than sys_enter did.
  const uid_t uid = kUid + 8;
  auto p = start({"--json", "-u", std::to_string(uid)});
  int tids[2];
  REQUIRE(pipe(tids) == 0);
  pid_t child = fork();
  if (child == 0) {
    close(tids[0]);
    if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(99);
    std::thread t([&] {
      pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
      if (write(tids[1], &tid, sizeof tid) != sizeof tid) _exit(97);
      char* path = strdup("/bin/true");
      char* args[] = {strdup("true"), strdup("from-a-thread"), nullptr};
      char* envp[] = {nullptr};
      execve(path, args, envp);
      _exit(100 + errno);
    });
    t.join();
    _exit(96);
  }
  close(tids[1]);
  pid_t thread_tid = 0;
  REQUIRE(read(tids[0], &thread_tid, sizeof thread_tid) == sizeof thread_tid);
  close(tids[0]);
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(thread_tid != child);
  auto lines = collect(*p, 1, 10, [](const std::string&) { return true; });
  REQUIRE(lines.size() == 1);
  auto ev = parse_json(lines[0]);
  CHECK(ev["pid"].i() == child);
  CHECK(ev["tid"].i() == thread_tid);
  CHECK(ev["ret"].i() == 0);
  CHECK(ev["filename"].str == "/bin/true");
  REQUIRE(ev["args"].arr.size() == 2);
  CHECK(ev["args"].arr[1].str == "from-a-thread");
  p->signal(SIGINT);
  CHECK(p->wait_exit(10) == 0);
}

TEST_CASE("execve_enriched: execs in flight at once that share a slot are each reported once",
          "[execve_enriched][slots]") {
  // One slot for all (TRACEKIT_EXECVE_SLOTS=1): while one worker's exec is in flight the
  // other's cannot claim the slot and is parked in the LRU hash instead. No slots (0, what
  // a kernel before 5.12 gets): every exec through the hash. Ground truth: exec_storm's
  // count, and each child's path, argv, result and pid.
  for (const char* slots : {"1", "0"}) {
    DYNAMIC_SECTION("TRACEKIT_EXECVE_SLOTS=" << slots) {
      const uid_t uid = kUid + 11;
      const int want = 2003;
      std::string out_file = "/tmp/execve_enriched_slots." + std::to_string(getpid()) + ".out";
      RemovedAtEnd remove_file{out_file};
      ToolProcess p({"/bin/sh", "-c",
                     std::string("TRACEKIT_EXECVE_SLOTS=") + slots + " exec " + harness::tool_path("execve_enriched") +
                         " --json -u " + std::to_string(uid) + " > " + out_file});
      REQUIRE(p.wait_for_stderr_line("Attached", 90));
      auto storm = harness::run({std::string(TRACEKIT_BIN_DIR) + "/exec_storm", "--uid", std::to_string(uid), "--count",
                                 std::to_string(want), "--procs", "2", "--timeout", "120"},
                                180);
      REQUIRE(storm.exit_code == 0);
      REQUIRE(storm.out.find("made=" + std::to_string(want) + " ") != std::string::npos);
      usleep(500 * 1000);  // the last batch
      p.signal(SIGINT);
      REQUIRE(p.wait_exit(30) == 0);
      std::ifstream in(out_file);
      std::string line;
      std::set<long long> pids;
      int events = 0, wrong = 0;
      long long lost = -1;
      while (std::getline(in, line)) {
        auto j = parse_json(line);
        if (j["type"].str == "summary") lost = j["lost"].i();
        if (j["type"].str != "event") continue;
        ++events;
        pids.insert(j["pid"].i());
        const bool right = j["uid"].i() == uid && j["ret"].i() == 0 && j["filename"].str == "/bin/true" &&
                           j["args"].arr.size() == 1 && j["args"].arr[0].str == "/bin/true" &&
                           j["tid"].i() == j["pid"].i();
        if (!right) {
          if (++wrong <= 3) UNSCOPED_INFO("wrong event: " << line);
        }
      }
      CHECK(lost == 0);
      CHECK(wrong == 0);
      CHECK(events == want);
      CHECK(pids.size() == static_cast<size_t>(want));
    }
  }
}

TEST_CASE("execve_enriched --duration ends by itself with a summary", "[execve_enriched]") {
  auto r = harness::run({harness::tool_path("execve_enriched"), "-d", "2", "-u", std::to_string(kUid + 4)}, 90);
  CHECK(r.exit_code == 0);
  auto out = harness::lines(r.out);
  REQUIRE(out.size() == 2);  // the header and the summary
  CHECK(out[0].rfind("PID", 0) == 0);
  CHECK(out[1].rfind("Traced ", 0) == 0);
  CHECK(r.err.find("Attached") != std::string::npos);
  auto summary = harness::text_summary(r.out);
  REQUIRE(summary);
  CHECK(summary->events == 0);
  CHECK(summary->seconds == Approx(2.0).margin(0.3));
}

TEST_CASE("execve_enriched usage errors exit 2 with one line", "[execve_enriched][usage]") {
  for (std::vector<std::string> args : {std::vector<std::string>{"--bogus"},
                                        {"--buffer", "pipe"},
                                        {"--probe", "uprobe"},
                                        {"-u", "no-such-user-xyz"},
                                        {"-p", "abc"},
                                        {"--ppid", "-3"},
                                        {"--failed-only", "--success-only"},
                                        {"--wakeup", "never"},
                                        {"extra"}}) {
    args.insert(args.begin(), harness::tool_path("execve_enriched"));
    auto r = harness::run(args, 30);
    INFO(args[1] << " -> " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(harness::lines(r.err).size() == 1);
    CHECK(r.err.rfind("execve_enriched: error: ", 0) == 0);
    CHECK(r.out.empty());
  }
}

TEST_CASE("execve_enriched --probe kprobe", "[execve_enriched][kprobe]") {
  if (tracekit::kernel_has_kprobes()) {
    auto p = start({"--json", "--probe", "kprobe", "-u", std::to_string(kUid + 5)});
    auto made = make_known_execs(kUid + 5, missing_path());
    auto lines = collect(*p, made.size(), 10, [](const std::string&) { return true; });
    CHECK(lines.size() == made.size());
    p->signal(SIGINT);
    CHECK(p->wait_exit(10) == 0);
  } else {
    auto r = harness::run({harness::tool_path("execve_enriched"), "--probe", "kprobe"}, 60);
    INFO(r.err);
    CHECK(r.exit_code == 1);
    auto errs = harness::lines(r.err);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].find("CONFIG_KPROBES") != std::string::npos);
    // The kprobe variants cannot run here, but they still have to compile.
    tracekit::LoadOptions load;
    load.cflags = {"-DUSE_RINGBUF", "-DWITH_KPROBES"};
    tracekit::BpfProgram prog;
    CHECK_NOTHROW(prog.load(execve_enriched_bpf_text, load));
  }
}

// Bounded load: 20,000 fork+execs from 2 processes as a dedicated uid while tracing.
// Asserts only that nothing vanishes silently: received + lost == made. The numbers
// (wall time, tracer CPU) are printed for the benchmark notes.
TEST_CASE("execve_enriched under load: received + lost == made", "[execve_enriched][load]") {
  for (const char* buffer : {"ring", "perf"}) {
    DYNAMIC_SECTION("buffer " << buffer) {
      const uid_t uid = kUid + 10;
      std::string out_file = "/tmp/execve_enriched_load." + std::to_string(getpid()) + ".out";
      RemovedAtEnd remove_file{out_file};
      // stdout to a file, so that the test's reading speed does not throttle the tool.
      ToolProcess p({"/bin/sh", "-c",
                     "exec " + harness::tool_path("execve_enriched") + " -v --buffer " + buffer + " -u " +
                         std::to_string(uid) + " > " + out_file});
      REQUIRE(p.wait_for_stderr_line("Attached", 90));
      auto stat_ticks = [&] {
        std::ifstream in("/proc/" + std::to_string(p.pid()) + "/stat");
        std::string s;
        std::getline(in, s);
        std::istringstream rest(s.substr(s.rfind(')') + 2));
        std::string f;
        long long utime = 0, stime = 0;
        for (int i = 3; i <= 15 && rest >> f; ++i) {
          if (i == 14) utime = std::stoll(f);
          if (i == 15) stime = std::stoll(f);
        }
        return utime + stime;
      };
      long long ticks0 = stat_ticks();
      auto storm = harness::run({std::string(TRACEKIT_BIN_DIR) + "/exec_storm", "--uid", std::to_string(uid), "--count",
                                 "20000", "--procs", "2", "--timeout", "240"},
                                300);
      REQUIRE(storm.exit_code == 0);
      std::smatch m;
      REQUIRE(std::regex_search(storm.out, m, std::regex(R"(made=(\d+) wall_s=([0-9.]+))")));
      long long made = std::stoll(m[1]);
      std::string wall = m[2];
      CHECK(made == 20000);
      // Let the last events drain, then stop the tool and read its counts.
      usleep(500 * 1000);
      long long ticks = stat_ticks() - ticks0;
      p.signal(SIGINT);
      REQUIRE(p.wait_exit(30) == 0);
      std::ifstream in(out_file);
      long long received = -2;  // the header and the summary lines
      std::string line, all;
      while (std::getline(in, line)) {
        ++received;
        all += line + "\n";
      }
      auto summary = harness::text_summary(all);
      REQUIRE(summary);
      long long traced = static_cast<long long>(summary->events);
      long long lost = static_cast<long long>(summary->lost);
      std::smatch lat;
      std::regex_search(p.err(), lat, std::regex(R"(latency: avg ([0-9.]+) ms, max ([0-9.]+) ms)"));
      std::fprintf(stderr,
                   "[load] buffer=%s made=%lld received=%lld lost=%lld wall_s=%s tracer_cpu_s=%.2f "
                   "tracer_us_per_event=%.1f latency_avg_ms=%s latency_max_ms=%s\n",
                   buffer, made, received, lost, wall.c_str(), static_cast<double>(ticks) / sysconf(_SC_CLK_TCK),
                   received > 0 ? static_cast<double>(ticks) * 1e6 / sysconf(_SC_CLK_TCK) / received : 0.0,
                   lat.size() > 2 ? lat[1].str().c_str() : "?", lat.size() > 2 ? lat[2].str().c_str() : "?");
      CHECK(traced == received);
      CHECK(received + lost == made);
    }
  }
}
