// See cgroups.h.
#include "cgroups.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "util/cgroup.h"

namespace testcg {

TestCgroup::TestCgroup(const std::string& rel) : mount_(tracekit::cgroup2_mount()), rel_(rel) {
  if (mount_.empty()) return;
  std::filesystem::create_directories(mount_ + rel_);
}

TestCgroup::~TestCgroup() {
  if (mount_.empty()) return;
  for (int i = 0; i < 50 && std::filesystem::exists(path()); ++i) {  // bounded: 5 s
    std::error_code ec;
    std::vector<std::string> dirs;
    for (auto it = std::filesystem::recursive_directory_iterator(path(), ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory()) dirs.push_back(it->path().string());
    for (auto d = dirs.rbegin(); d != dirs.rend(); ++d) ::rmdir(d->c_str());  // deepest first
    if (::rmdir(path().c_str()) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool TestCgroup::ok() const { return !mount_.empty() && std::filesystem::is_directory(path()); }

bool join_cgroup(const std::string& dir) {
  int fd = ::open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "0", 1) == 1;
  ::close(fd);
  return ok;
}

std::string own_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

}  // namespace testcg
