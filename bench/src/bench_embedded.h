// The BPF texts of the tools that exist in the tracekit build the bench links against.
#pragma once

#include <string>

namespace bench {

// The embedded text of `tool` (as the tool itself compiles it), or nullptr if that
// tool was not built when the bench was configured.
const char* embedded_text(const std::string& tool);

}  // namespace bench
