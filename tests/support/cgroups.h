// Cgroups of a test's own under the cgroup2 mount (root only), removed afterwards even
// when a check fails.
#pragma once

#include <sys/types.h>

#include <string>

namespace testcg {

// A cgroup DIR (relative to the cgroup2 mount: "/tracekit-test-123/a"), made by the
// constructor and removed (deepest first, after its processes are gone; bounded: 5 s)
// by the destructor. ok() is false on a host without a cgroup2 mount.
class TestCgroup {
 public:
  explicit TestCgroup(const std::string& rel);
  ~TestCgroup();
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;
  bool ok() const;
  std::string path() const { return mount_ + rel_; }
  const std::string& rel() const { return rel_; }

 private:
  std::string mount_, rel_;
};

// Moves the calling process into the cgroup at full path DIR; false on failure.
bool join_cgroup(const std::string& dir);

// The calling process's cgroup v2 path ("0::" line of /proc/self/cgroup), "" if none.
std::string own_cgroup();

}  // namespace testcg
