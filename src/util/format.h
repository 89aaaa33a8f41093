// Text formatting helpers shared by the tools.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tracekit {

std::string clock_hms(std::chrono::system_clock::time_point t);  // "17:09:04"
std::string clock_hms_now();
std::string iso8601(std::chrono::system_clock::time_point t);  // "2026-11-25T17:09:04.123Z"
std::string human_bytes(uint64_t bytes);                       // "3.44 KB", "913.00  B"

}  // namespace tracekit
