// A cgroup of the test's own under the cgroup2 mount (root only):
//
//   testcg::TestCgroup cg("/tracekit-test-" + std::to_string(getpid()));
//   if (!cg.ok()) SKIP...;                 // no cgroup2 mount, or not writable
//   testcg::join(cg.path());               // in a forked child: move itself there
//
// The destructor removes the directory (deepest first, after its processes are gone),
// also when a check fails; bounded to 5 s.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "util/cgroup.h"

namespace testcg {

class TestCgroup {
 public:
  // rel: the path under the mount, starting with '/'.
  explicit TestCgroup(const std::string& rel) : mount_(tracekit::cgroup2_mount()), rel_(rel) {
    if (mount_.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(mount_ + rel_, ec);
  }
  ~TestCgroup() {
    if (mount_.empty()) return;
    for (int i = 0; i < 50 && std::filesystem::exists(path()); ++i) {  // bounded: 5 s
      std::error_code ec;
      std::vector<std::string> dirs;
      for (auto it = std::filesystem::recursive_directory_iterator(path(), ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_directory()) dirs.push_back(it->path().string());
      for (auto d = dirs.rbegin(); d != dirs.rend(); ++d) ::rmdir(d->c_str());
      if (::rmdir(path().c_str()) == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;
  bool ok() const { return !mount_.empty() && std::filesystem::is_directory(path()); }
  std::string path() const { return mount_ + rel_; }
  const std::string& rel() const { return rel_; }

 private:
  std::string mount_, rel_;
};

// Moves the calling process into cgroup directory `dir` (writes "0" to cgroup.procs).
inline bool join(const std::string& dir) {
  int fd = ::open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "0", 1) == 1;
  ::close(fd);
  return ok;
}

}  // namespace testcg
