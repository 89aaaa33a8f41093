// execve_enriched: turning one execve_event into a text line or a JSON object.
// Header-only and LLVM-free, so unit tests include it directly.
#pragma once

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "execve_enriched.h"
#include "format.h"
#include "json.h"

namespace execve_enriched {

// Everything user space adds to a kernel event.
struct Decorated {
  const execve_event* ev = nullptr;
  std::chrono::system_clock::time_point when;  // wall-clock time of sys_enter
  uint32_t ppid = 0;                           // after the /proc fallback; 0 = unknown
  std::optional<std::string> user;
};

// A fixed-size kernel string up to its first NUL.
inline std::string_view bounded(const char* s, size_t cap) { return {s, strnlen(s, cap)}; }

// Shell-style quoting when needed: plain words stay as they are, others get single
// quotes and C escapes for control and non-ASCII bytes ('a b', 'tab\there', '').
inline std::string quote_arg(std::string_view s) {
  bool plain = !s.empty();
  for (unsigned char c : s)
    if (!(std::isalnum(c) || std::strchr("-_./=:,+@%^", c))) plain = false;
  if (plain) return std::string(s);
  std::string out = "'";
  for (unsigned char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

inline uint32_t captured_args(const execve_event& e) {
  return e.argc > EXECVE_MAX_ARGS ? EXECVE_MAX_ARGS : e.argc;
}

// "0" or "-ENOENT" (or "-123" for an errno without a name).
inline std::string ret_text(int32_t ret) {
  if (ret >= 0) return std::to_string(ret);
  const char* name = strerrorname_np(-ret);
  return name ? std::string("-") + name : std::to_string(ret);
}

inline std::string errno_name(int32_t ret) {
  if (ret >= 0) return {};
  const char* name = strerrorname_np(-ret);
  return name ? name : std::to_string(-ret);
}

// The ARGS column: argv joined by spaces, "..." after a cut argument, " ..." when
// argv had more entries than were captured, "[?]" when some could not be read.
inline std::string args_text(const execve_event& e) {
  std::string out;
  for (uint32_t i = 0; i < captured_args(e); ++i) {
    if (i) out += ' ';
    out += quote_arg(bounded(e.args[i], EXECVE_ARG_SIZE));
    if (e.args_cut & (1u << i)) out += "...";
  }
  if (e.flags & EXECVE_F_MORE_ARGS) out += " ...";
  if (e.flags & EXECVE_F_UNREADABLE) out += out.empty() ? "[?]" : " [?]";
  return out;
}

inline std::string filename_text(const execve_event& e) {
  std::string out = quote_arg(bounded(e.filename, EXECVE_FILENAME_SIZE));
  if (e.flags & EXECVE_F_FILENAME_CUT) out += "...";
  return out;
}

inline const char* syscall_name(const execve_event& e) {
  return e.syscall == EXECVE_SYS_EXECVEAT ? "execveat" : "execve";
}

inline std::string header_line(bool with_time) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s%-7s %-7s %-6s %-8s %-16s %-8s %s\n", with_time ? "TIME     " : "", "PID", "PPID",
                "UID", "USER", "COMM", "RET", "FILENAME ARGS");
  return buf;
}

inline std::string text_line(const Decorated& d, bool with_time) {
  const execve_event& e = *d.ev;
  std::string ppid = d.ppid ? std::to_string(d.ppid) : "?";
  std::string user = d.user ? *d.user : "-";
  if (user.size() > 8) user = user.substr(0, 7) + "+";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s%-7u %-7s %-6u %-8s %-16s %-8s ",
                with_time ? (tracekit::clock_hms(d.when) + " ").c_str() : "", e.pid, ppid.c_str(), e.uid,
                user.c_str(), quote_arg(bounded(e.comm, EXECVE_COMM_SIZE)).c_str(), ret_text(e.ret).c_str());
  std::string out = buf + filename_text(e);
  std::string args = args_text(e);
  if (!args.empty()) out += " " + args;
  return out + "\n";
}

inline std::string json_line(const Decorated& d) {
  const execve_event& e = *d.ev;
  tracekit::JsonArray args, cut;
  for (uint32_t i = 0; i < captured_args(e); ++i) {
    args.add(bounded(e.args[i], EXECVE_ARG_SIZE));
    if (e.args_cut & (1u << i)) cut.add_raw(std::to_string(i));
  }
  tracekit::JsonObject o;
  o.add("timestamp", tracekit::iso8601(d.when)).add("syscall", syscall_name(e)).add("pid", e.pid).add("tid", e.tid);
  if (d.ppid) o.add("ppid", d.ppid); else o.add_null("ppid");
  o.add("uid", e.uid);
  if (d.user) o.add("user", *d.user); else o.add_null("user");
  o.add("gid", e.gid).add("comm", bounded(e.comm, EXECVE_COMM_SIZE)).add("filename", bounded(e.filename, EXECVE_FILENAME_SIZE));
  o.add("filename_truncated", (e.flags & EXECVE_F_FILENAME_CUT) != 0);
  o.add_raw("args", args.str()).add_raw("truncated_args", cut.str()).add("more_args", (e.flags & EXECVE_F_MORE_ARGS) != 0);
  o.add("args_unreadable", (e.flags & EXECVE_F_UNREADABLE) != 0);
  if (e.syscall == EXECVE_SYS_EXECVEAT) o.add("dirfd", e.dirfd).add("flags", e.at_flags);
  o.add("ret", e.ret);
  if (e.ret < 0) o.add("errno", errno_name(e.ret)); else o.add_null("errno");
  return o.str() + "\n";
}

}  // namespace execve_enriched
