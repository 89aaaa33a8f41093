// util/cgroup.h: the cgroup2 mount from /proc/mounts, owners from cgroup paths, and the
// id -> path cache (on a directory tree of its own: ids are inode numbers).
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "util/cgroup.h"

using namespace tracekit;

TEST_CASE("cgroup: the cgroup2 mount of a hybrid host, a v2-only host, a v1-only host", "[cgroup]") {
  CHECK(cgroup2_mount_in("sysfs /sys sysfs rw 0 0\n"
                         "tmpfs /sys/fs/cgroup tmpfs ro 0 0\n"
                         "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\n"
                         "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n") == "/sys/fs/cgroup/unified");
  CHECK(cgroup2_mount_in("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n") == "/sys/fs/cgroup");
  CHECK(cgroup2_mount_in("cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n").empty());
  CHECK(cgroup2_mount_in("none /mnt/my\\040cg cgroup2 rw 0 0\n") == "/mnt/my cg");
}

TEST_CASE("cgroup: units and container ids from paths", "[cgroup]") {
  const std::string id(64, 'a');
  const std::string id2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  struct Case {
    std::string path, unit, container;
  };
  for (const Case& c : std::vector<Case>{
           {"/", "", ""},
           {"/system.slice/nginx.service", "nginx.service", ""},
           {"/user.slice/user-1000.slice/session-3.scope", "session-3.scope", ""},
           {"/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", "foo.service", ""},
           {"/user.slice/user-1000.slice/user@1000.service/init.scope", "init.scope", ""},
           {"/system.slice/docker-" + id2 + ".scope", "docker-" + id2 + ".scope", id2},
           {"/docker/" + id2, "", id2},
           {"/system.slice/containerd.service/kubepods-besteffort-pod1.slice:cri-containerd:" + id,
            "containerd.service", ""},
           {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podabc.slice/cri-containerd-" + id2 + ".scope",
            "cri-containerd-" + id2 + ".scope", id2},
           {"/kubepods/burstable/pod1234/" + id2, "", id2},
           {"/machine.slice/libpod-" + id2 + ".scope/container", "libpod-" + id2 + ".scope", id2},
           {"/machine.slice/libpod-conmon-" + id2 + ".scope", "libpod-conmon-" + id2 + ".scope", ""},
           {"/kubepods.slice/crio-" + id2 + ".scope", "crio-" + id2 + ".scope", id2},
           {"/system.slice", "", ""},
           {"/docker/" + id2.substr(0, 63), "", ""},
       }) {
    INFO(c.path);
    const CgroupOwner o = cgroup_owner(c.path);
    CHECK(o.unit == c.unit);
    CHECK(o.container_id == c.container);
  }
}

TEST_CASE("cgroup: ids resolve to paths, new directories after a rescan", "[cgroup]") {
  char tmpl[] = "/tmp/tkcgroup-unit-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  const std::string root = tmpl;
  std::filesystem::create_directories(root + "/system.slice/a.service");
  CgroupResolver r(root, 1000);
  CHECK(r.path(*cgroup_id_of(root)) == "/");
  CHECK(r.path(*cgroup_id_of(root + "/system.slice/a.service")) == "/system.slice/a.service");
  std::filesystem::create_directories(root + "/user.slice/b.scope");
  usleep(5000);
  CHECK(r.path(*cgroup_id_of(root + "/user.slice/b.scope")) == "/user.slice/b.scope");
  // Removed: still known (an event of it may be in flight).
  const uint64_t gone = *cgroup_id_of(root + "/user.slice/b.scope");
  std::filesystem::remove(root + "/user.slice/b.scope");
  CHECK(r.path(gone) == "/user.slice/b.scope");
  CHECK_FALSE(r.path(1).has_value());
  CHECK_FALSE(cgroup_id_of(root + "/missing").has_value());
  std::filesystem::remove_all(root);
}

TEST_CASE("cgroup: an id a walk missed is held back; one asked while walks were rate-limited is not", "[cgroup]") {
  char tmpl[] = "/tmp/tkcgroup-retry-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  const std::string root = tmpl;
  using std::chrono::milliseconds;
  {
    // Walks at most every 100 ms; a missed id is not walked for again for 300 ms.
    CgroupResolver r(root, 10, milliseconds(300));
    const uint64_t nowhere = 1;  // no directory has inode 1
    CHECK_FALSE(r.path(nowhere));
    CHECK(r.scans() == 1);
    usleep(150 * 1000);  // past the rate limit, within the retry
    CHECK_FALSE(r.path(nowhere));
    CHECK(r.scans() == 1);
    // A directory made now, asked for at once: the walks are rate-limited (the last was
    // 150 ms ago, so wait it out once), and that must not count as a miss of its id.
    usleep(60 * 1000);
    CHECK_FALSE(r.path(2));  // a walk, and 2 is missed too
    CHECK(r.scans() == 2);
    std::filesystem::create_directories(root + "/late.scope");
    const uint64_t late = *cgroup_id_of(root + "/late.scope");
    CHECK_FALSE(r.path(late));  // within 100 ms of the last walk: not looked for
    CHECK(r.scans() == 2);
    usleep(120 * 1000);
    CHECK(r.path(late) == "/late.scope");  // found at the next walk, not held back
    CHECK(r.scans() == 3);
    usleep(350 * 1000);  // the retry of `nowhere` is over: walked for again
    CHECK_FALSE(r.path(nowhere));
    CHECK(r.scans() == 4);
  }
  std::filesystem::remove_all(root);
}

TEST_CASE("cgroup: a --cgroup argument resolves inside the mount only", "[cgroup]") {
  char tmpl[] = "/tmp/tkcgroup-arg-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  const std::string base = tmpl;
  const std::string mount = base + "/mnt";
  std::filesystem::create_directories(mount + "/system.slice/a.service");
  std::filesystem::create_directories(base + "/outside");
  std::filesystem::create_directory_symlink(base + "/outside", mount + "/escape");
  std::filesystem::create_directory_symlink(mount + "/system.slice", mount + "/alias");
  CHECK(resolve_cgroup_arg(mount, "/system.slice") == mount + "/system.slice");
  CHECK(resolve_cgroup_arg(mount, "system.slice/a.service") == mount + "/system.slice/a.service");
  CHECK(resolve_cgroup_arg(mount, mount + "/system.slice/") == mount + "/system.slice");
  CHECK(resolve_cgroup_arg(mount, "/system.slice/a.service/..") == mount + "/system.slice");
  CHECK(resolve_cgroup_arg(mount, "/alias/a.service") == mount + "/system.slice/a.service");
  CHECK(resolve_cgroup_arg(mount, "/") == mount);
  CHECK(resolve_cgroup_arg(mount, "/..").empty());
  CHECK(resolve_cgroup_arg(mount, "/../outside").empty());
  CHECK(resolve_cgroup_arg(mount, "/escape").empty());
  CHECK(resolve_cgroup_arg(mount, "/no/such/cgroup").empty());
  CHECK(resolve_cgroup_arg("", "/system.slice").empty());
  std::filesystem::remove_all(base);
}
