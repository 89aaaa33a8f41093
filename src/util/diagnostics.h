// Turns bcc's multi-line failure output into one line a user can act on.
#pragma once

#include <string>

namespace tracekit {

// From clang's diagnostics captured during ebpf::BPF::init: the first
// "file:line:col: error: ..." line, or the status message when there is none.
std::string summarize_compile_failure(const std::string& captured, const std::string& status);

// From the verifier log captured during load_func: the status and the log's last line.
std::string summarize_load_failure(const std::string& captured, const std::string& status);

// First non-empty line of a text.
std::string first_line(const std::string& text);

}  // namespace tracekit
