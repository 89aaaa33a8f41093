// Logging on stderr through spdlog. stdout is reserved for a tool's output.
//
// Lines look like "execve_dumb: error: ..." / "execve_dumb: warning: ...";
// info lines are printed bare (the "Attached ..." line that tests wait for).
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace tracekit {

// Installs the stderr logger for tool `name`; verbose enables debug lines.
void init_logging(const std::string& name, bool verbose = false);
void set_verbose(bool verbose);
const std::string& tool_name();

}  // namespace tracekit
