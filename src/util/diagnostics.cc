#include "util/diagnostics.h"

#include <sstream>
#include <vector>

namespace tracekit {
namespace {
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

bool is_noise(const std::string& line) {
  return line.find("sha1 socket not available") != std::string::npos ||
         line.find("cannot get prog tag") != std::string::npos;
}
}  // namespace

std::string first_line(const std::string& text) {
  for (const auto& line : lines_of(text))
    if (!is_noise(line)) return line;
  return {};
}

std::string summarize_compile_failure(const std::string& captured, const std::string& status) {
  for (const auto& line : lines_of(captured)) {
    if (line.find(": error: ") != std::string::npos || line.find("fatal error: ") != std::string::npos) {
      std::string out = "cannot compile the BPF program: " + line;
      if (line.find("file not found") != std::string::npos)
        out += " (kernel headers incomplete: pass --kernel-headers DIR or install linux-headers-amd64)";
      return out;
    }
  }
  std::string s = first_line(status);
  return "cannot compile the BPF program: " + (s.empty() ? std::string("unknown bcc error") : s);
}

std::string summarize_load_failure(const std::string& captured, const std::string& status) {
  std::string last;
  for (const auto& line : lines_of(captured))
    if (!is_noise(line)) last = line;
  std::string out = first_line(status);
  if (!last.empty() && out.find(last) == std::string::npos) out += " (verifier: " + last + ")";
  return out;
}

}  // namespace tracekit
