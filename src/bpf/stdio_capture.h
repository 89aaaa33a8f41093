// Captures what a library prints on fd 1 and fd 2 while a scope runs.
//
// bcc prints warnings on stdout and compiler diagnostics on stderr; tools must keep
// stdout for their own output, so loads run inside a StdioCapture and the text is
// returned for error messages and debug logs.
#pragma once

#include <string>

#include "util/fd.h"

namespace tracekit {

class StdioCapture {
 public:
  StdioCapture();   // redirects fd 1 and fd 2 into an anonymous file
  ~StdioCapture();  // restores them
  StdioCapture(const StdioCapture&) = delete;
  StdioCapture& operator=(const StdioCapture&) = delete;

  std::string finish();  // restores fds and returns the captured text

 private:
  UniqueFd saved_out_;
  UniqueFd saved_err_;
  UniqueFd file_;
};

}  // namespace tracekit
