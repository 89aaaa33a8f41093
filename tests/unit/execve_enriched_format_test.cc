// execve_enriched's rendering of one event (LLVM-free: the header only needs tracekit_core).
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>

#include "execve_format.h"
#include "output/sink.h"
#include "output/strings.h"

using namespace execve_enriched;

namespace {

execve_event make_event() {
  execve_event e;
  std::memset(&e, 0, sizeof e);
  e.pid = 4242;
  e.tid = 4242;
  e.ppid = 1;
  e.uid = 1000;
  e.gid = 1000;
  std::strcpy(e.comm, "bash");
  std::strcpy(e.filename, "/bin/echo");
  std::strcpy(e.args[0], "echo");
  std::strcpy(e.args[1], "two words");
  e.argc = 2;
  return e;
}

}  // namespace

TEST_CASE("shell_quote leaves plain words alone and quotes the rest", "[execve_enriched]") {
  using tracekit::shell_quote;
  CHECK(shell_quote("ls") == "ls");
  CHECK(shell_quote("/usr/bin/x-y_z.1=2,3:4") == "/usr/bin/x-y_z.1=2,3:4");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("a b") == "'a b'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("tab\there\n") == "'tab\\there\\n'");
  CHECK(shell_quote("\x01") == "'\\x01'");
  CHECK(shell_quote("ünï") == "ünï");  // valid UTF-8 is printed as is
  CHECK(shell_quote("日本語") == "日本語");
  CHECK(shell_quote("\xff\xfe") == "'\\xff\\xfe'");
  CHECK(shell_quote("\x1b[31m") == "'\\x1b[31m'");
  CHECK(shell_quote("a\\b") == "'a\\\\b'");
}

TEST_CASE("ret_text and errno_name", "[execve_enriched]") {
  CHECK(ret_text(0) == "0");
  CHECK(ret_text(-ENOENT) == "-ENOENT");
  CHECK(ret_text(-EACCES) == "-EACCES");
  CHECK(errno_name(0).empty());
  CHECK(errno_name(-ENOEXEC) == "ENOEXEC");
}

TEST_CASE("text line: columns, markers for cut and missing arguments", "[execve_enriched]") {
  execve_event e = make_event();
  tracekit::OwnerInfo owner;
  owner.uid = 1000;
  owner.user = "alice";
  Decorated d{&e, {}, 1, &owner};
  CHECK(text_line(d, {}) == "4242    1       1000   alice    bash             0        /bin/echo echo 'two words'\n");
  e.args_cut = 1u << 1;
  e.flags = EXECVE_F_MORE_ARGS | EXECVE_F_FILENAME_CUT;
  e.ret = -ENOENT;
  d.ppid = 0;
  owner.user.reset();
  CHECK(text_line(d, {}) ==
        "4242    ?       1000   -        bash             -ENOENT  /bin/echo... echo 'two words'... ...\n");
  e.argc = 0;
  e.flags = EXECVE_F_ARG_FAULT;
  CHECK(args_text(e) == "[?]");
  CHECK(header_line({true, false}).rfind("TIME     PID", 0) == 0);
  // -C: the cgroup path before the file, '?' when unknown.
  CHECK(header_line({false, true}).find(" RET      CGROUP FILENAME ARGS") != std::string::npos);
  e.argc = 1;
  e.flags = 0;
  e.ret = 0;
  owner.cgroup = "/system.slice/a b.service";
  CHECK(text_line(d, {false, true}) ==
        "4242    ?       1000   -        bash             0        '/system.slice/a b.service' /bin/echo echo\n");
  owner.cgroup.reset();
  CHECK(text_line(d, {false, true}).find(" 0        ? /bin/echo") != std::string::npos);
  d.owner = nullptr;
  CHECK(text_line(d, {false, true}).find(" -        bash             0        ? /bin/echo") != std::string::npos);
}

TEST_CASE("JSON line carries the same values", "[execve_enriched]") {
  execve_event e = make_event();
  e.args_cut = 1u << 1;
  e.ret = -ENOENT;
  Decorated d{&e, std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123)), 0, nullptr};
  tracekit::JsonSink sink("execve_enriched");
  auto json_line = [&](const Decorated& dd) {
    std::string out;
    sink.render(ExecRecord(dd, {}), out);
    return out;
  };
  CHECK(json_line(d) ==
        "{\"tool\":\"execve_enriched\",\"type\":\"event\",\"ts\":\"2023-11-14T22:13:20.123Z\",\"syscall\":\"execve\","
        "\"pid\":4242,\"tid\":4242,\"ppid\":null,"
        "\"uid\":1000,\"user\":null,\"gid\":1000,\"comm\":\"bash\",\"cgroup_id\":0,\"cgroup\":null,\"unit\":null,"
        "\"container_id\":null,\"filename\":\"/bin/"
        "echo\",\"filename_truncated\":false,"
        "\"args\":[\"echo\",\"two words\"],\"truncated_args\":[1],\"more_args\":false,\"args_unreadable\":false,"
        "\"ret\":-2,\"errno\":\"ENOENT\"}\n");
  e.syscall = EXECVE_SYS_EXECVEAT;
  e.dirfd = -100;
  CHECK(json_line(d).find("\"syscall\":\"execveat\"") != std::string::npos);
  CHECK(json_line(d).find("\"dirfd\":-100,\"flags\":0,") != std::string::npos);
  e.cgroup_id = 7;
  CHECK(json_line(d).find("\"cgroup_id\":7,\"cgroup\":null,\"unit\":null,\"container_id\":null,") != std::string::npos);
  tracekit::OwnerInfo owner;
  owner.uid = e.uid;
  owner.cgroup_id = e.cgroup_id;
  owner.cgroup = "/system.slice/docker-" + std::string(64, 'f') + ".scope";
  owner.names = tracekit::cgroup_owner(*owner.cgroup);
  d.owner = &owner;
  CHECK(json_line(d).find("\"cgroup_id\":7,\"cgroup\":\"/system.slice/docker-" + std::string(64, 'f') +
                          ".scope\",\"unit\":\"docker-" + std::string(64, 'f') + ".scope\",\"container_id\":\"" +
                          std::string(64, 'f') + "\",") != std::string::npos);
}
