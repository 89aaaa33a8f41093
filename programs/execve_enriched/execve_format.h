// execve_enriched: one execve_event as a record: a text line in the original's columns,
// or the JSON fields of docs/execve_enriched.md. LLVM-free (library execve_enriched_lib,
// unit-tested in tests/unit/execve_enriched_format_test.cc).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "execve_enriched.h"
#include "output/sink.h"
#include "util/owner.h"

namespace execve_enriched {

// Everything user space adds to a kernel event.
struct Decorated {
  const execve_event* ev = nullptr;
  std::chrono::system_clock::time_point when;  // wall-clock time of sys_enter
  uint32_t ppid = 0;                           // after the /proc fallback; 0 = unknown
                      // The caller's uid and cgroup with their names (user, cgroup path, unit, container);
  // nullptr: none known.
  const tracekit::OwnerInfo* owner = nullptr;
};

// Text columns beyond the original's.
struct Columns {
  bool time = false;    // -T
  bool cgroup = false;  // -C: CGROUP before FILENAME
};

// A fixed-size kernel string up to its first NUL.
inline std::string_view bounded(const char* s, size_t cap) { return {s, strnlen(s, cap)}; }

// "0" or "-ENOENT" (or "-123" for an errno without a name).
std::string ret_text(int32_t ret);
// "ENOENT" ("" for ret >= 0).
std::string errno_name(int32_t ret);
// The ARGS column: argv shell-quoted and joined by spaces, "..." after a cut argument,
// " ..." when argv had more entries than were captured, "[?]" when some could not be read.
std::string args_text(const execve_event& e);
std::string header_line(const Columns& c);
std::string text_line(const Decorated& d, const Columns& c);

// One exec as a record of type "event" (ts: the time of sys_enter).
class ExecRecord : public tracekit::Record {
 public:
  ExecRecord(const Decorated& d, const Columns& c) : d_(d), columns_(c) {}
  const char* type() const override { return "event"; }
  std::chrono::system_clock::time_point ts() const override { return d_.when; }
  void text(std::string& out) const override { out += text_line(d_, columns_); }
  void json(tracekit::JsonLine& j) const override;

 private:
  const Decorated& d_;
  Columns columns_;
};

// The column header, shown once in text mode (nothing in JSON mode).
class HeaderRecord : public tracekit::Record {
 public:
  explicit HeaderRecord(const Columns& c) : columns_(c) {}
  const char* type() const override { return "header"; }
  void text(std::string& out) const override { out += header_line(columns_); }
  void json(tracekit::JsonLine&) const override {}
  bool in_json() const override { return false; }

 private:
  Columns columns_;
};

}  // namespace execve_enriched
