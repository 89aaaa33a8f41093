// User names through NSS (getpwuid_r / getpwnam_r), the one lookup every tool uses.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace tracekit {

// uid -> user name, cached; nullopt when the uid has no entry.
std::optional<std::string> user_name(uint32_t uid);

// A user name or a decimal uid -> uid; nullopt when it is neither.
std::optional<uid_t> uid_from_name(const std::string& name_or_number);

}  // namespace tracekit
