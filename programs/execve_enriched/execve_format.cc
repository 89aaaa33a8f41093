#include "execve_format.h"

#include <fmt/format.h>

#include "output/strings.h"
#include "util/format.h"

namespace execve_enriched {
namespace {

uint32_t captured_args(const execve_event& e) { return e.argc > EXECVE_MAX_ARGS ? EXECVE_MAX_ARGS : e.argc; }

const char* syscall_name(const execve_event& e) { return e.syscall == EXECVE_SYS_EXECVEAT ? "execveat" : "execve"; }

std::string filename_text(const execve_event& e) {
  std::string out = tracekit::shell_quote(bounded(e.filename, EXECVE_FILENAME_SIZE));
  if (e.flags & EXECVE_F_FILENAME_CUT) out += "...";
  return out;
}

}  // namespace

std::string ret_text(int32_t ret) {
  if (ret >= 0) return std::to_string(ret);
  const char* name = strerrorname_np(-ret);
  return name ? std::string("-") + name : std::to_string(ret);
}

std::string errno_name(int32_t ret) {
  if (ret >= 0) return {};
  const char* name = strerrorname_np(-ret);
  return name ? name : std::to_string(-ret);
}

std::string args_text(const execve_event& e) {
  std::string out;
  for (uint32_t i = 0; i < captured_args(e); ++i) {
    if (i) out += ' ';
    out += tracekit::shell_quote(bounded(e.args[i], EXECVE_ARG_SIZE));
    if (e.args_cut & (1u << i)) out += "...";
  }
  if (e.flags & EXECVE_F_MORE_ARGS) out += " ...";
  if (e.flags & EXECVE_F_UNREADABLE) out += out.empty() ? "[?]" : " [?]";
  return out;
}

std::string header_line(const Columns& c) {
  return fmt::format("{}{:<7} {:<7} {:<6} {:<8} {:<16} {:<8} {}{}\n", c.time ? "TIME     " : "", "PID", "PPID", "UID",
                     "USER", "COMM", "RET", c.cgroup ? "CGROUP " : "", "FILENAME ARGS");
}

std::string text_line(const Decorated& d, const Columns& c) {
  const execve_event& e = *d.ev;
  const bool named = d.owner && d.owner->user;
  std::string user = named ? tracekit::text_safe(*d.owner->user) : "-";
  if (user.size() > 8) user = user.substr(0, 7) + "+";
  std::string out;
  out.reserve(160);
  if (c.time) out += tracekit::clock_hms(d.when) + " ";
  fmt::format_to(std::back_inserter(out), "{:<7} {:<7} {:<6} {:<8} {:<16} {:<8} ", e.pid,
                 d.ppid ? std::to_string(d.ppid) : "?", e.uid, user,
                 tracekit::shell_quote(bounded(e.comm, EXECVE_COMM_SIZE)), ret_text(e.ret));
  if (c.cgroup) out += (d.owner && d.owner->cgroup ? tracekit::shell_quote(*d.owner->cgroup) : std::string("?")) + " ";
  out += filename_text(e);
  std::string args = args_text(e);
  if (!args.empty()) out += " " + args;
  return out + "\n";
}

void ExecRecord::json(tracekit::JsonLine& j) const {
  const execve_event& e = *d_.ev;
  j.field("syscall", syscall_name(e)).field("pid", e.pid).field("tid", e.tid);
  if (d_.ppid)
    j.field("ppid", d_.ppid);
  else
    j.null("ppid");
  j.field("uid", e.uid);
  if (d_.owner && d_.owner->user)
    j.field("user", *d_.owner->user);
  else
    j.null("user");
  j.field("gid", e.gid).field("comm", bounded(e.comm, EXECVE_COMM_SIZE));
  if (d_.owner) {
    tracekit::owner_cgroup_json(d_.owner, j);
  } else {
    j.field("cgroup_id", static_cast<unsigned long long>(e.cgroup_id));
    j.null("cgroup").null("unit").null("container_id");
  }
  j.field("filename", bounded(e.filename, EXECVE_FILENAME_SIZE));
  j.field("filename_truncated", (e.flags & EXECVE_F_FILENAME_CUT) != 0);
  j.begin_array("args");
  for (uint32_t i = 0; i < captured_args(e); ++i) j.element(bounded(e.args[i], EXECVE_ARG_SIZE));
  j.end().begin_array("truncated_args");
  for (uint32_t i = 0; i < captured_args(e); ++i)
    if (e.args_cut & (1u << i)) j.element(static_cast<long long>(i));
  j.end();
  j.field("more_args", (e.flags & EXECVE_F_MORE_ARGS) != 0);
  j.field("args_unreadable", (e.flags & EXECVE_F_UNREADABLE) != 0);
  if (e.syscall == EXECVE_SYS_EXECVEAT) j.field("dirfd", e.dirfd).field("flags", e.at_flags);
  j.field("ret", e.ret);
  if (e.ret < 0)
    j.field("errno", errno_name(e.ret));
  else
    j.null("errno");
}

}  // namespace execve_enriched
