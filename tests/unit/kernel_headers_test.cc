// Header-tree discovery on fake /usr/src and /lib/modules layouts in a temp dir.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "temp_dir.h"
#include "util/error.h"
#include "util/kernel_headers.h"

namespace fs = std::filesystem;
using namespace tracekit;

namespace {

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x\n";
}

// Debian's split layout: -common has the sources, -amd64 the generated files.
void debian_pair(const fs::path& src, const std::string& version) {
  fs::path common = src / ("linux-headers-" + version + "-common");
  fs::path arch = src / ("linux-headers-" + version + "-amd64");
  touch(common / "include/linux/kconfig.h");
  touch(common / "include/uapi/linux/bpf.h");
  touch(common / "arch/x86/include/asm/ptrace.h");
  touch(arch / "include/generated/autoconf.h");
  touch(arch / "include/config/auto.conf");
  touch(arch / "arch/x86/include/generated/asm/x.h");
  touch(arch / "Makefile");
}

HeaderSearch search_in(const TempDir& t) {
  HeaderSearch s;
  s.release = "6.18.44-test";
  s.modules_root = (t.path / "lib/modules").string();
  s.kheaders = (t.path / "kheaders.tar.xz").string();
  s.src_root = (t.path / "usr/src").string();
  s.cache_root = (t.path / "cache").string();
  fs::create_directories(s.src_root);
  return s;
}
}  // namespace

TEST_CASE("matching /lib/modules build tree: bcc's default", "[headers]") {
  TempDir t;
  auto s = search_in(t);
  fs::path build = fs::path(s.modules_root) / s.release / "build";
  touch(build / "include/linux/kconfig.h");
  touch(build / "include/generated/autoconf.h");
  debian_pair(s.src_root, "6.1.0-56");
  CHECK(resolve_kernel_headers(s).kind == HeaderChoice::Kind::BccDefault);
}

TEST_CASE("kheaders archive: bcc's default", "[headers]") {
  TempDir t;
  auto s = search_in(t);
  touch(s.kheaders);
  CHECK(resolve_kernel_headers(s).kind == HeaderChoice::Kind::BccDefault);
}

TEST_CASE("BCC_KERNEL_SOURCE is respected", "[headers]") {
  TempDir t;
  auto s = search_in(t);
  s.env_dir = "/somewhere";
  auto c = resolve_kernel_headers(s);
  CHECK(c.kind == HeaderChoice::Kind::Environment);
  CHECK(c.path == "/somewhere");
}

TEST_CASE("newest Debian split headers are merged into one tree", "[headers]") {
  TempDir t;
  auto s = search_in(t);
  debian_pair(s.src_root, "6.1.0-9");
  debian_pair(s.src_root, "6.1.0-56");
  debian_pair(s.src_root, "5.10.0-30");
  auto c = resolve_kernel_headers(s);
  REQUIRE(c.kind == HeaderChoice::Kind::Distribution);
  CHECK(c.version == "6.1.0-56-amd64");
  fs::path tree = c.path;
  CHECK(tree.parent_path() == fs::path(s.cache_root));
  CHECK(is_complete_header_tree(tree.string()));
  // Both halves are visible where bcc looks for them.
  CHECK(fs::exists(tree / "include/uapi/linux/bpf.h"));
  CHECK(fs::exists(tree / "include/config/auto.conf"));
  CHECK(fs::exists(tree / "arch/x86/include/asm/ptrace.h"));
  CHECK(fs::exists(tree / "arch/x86/include/generated/asm/x.h"));
  // Nothing was written into the system trees.
  CHECK_FALSE(fs::exists(fs::path(s.src_root) / "linux-headers-6.1.0-56-amd64/include/linux"));
  // A second run reuses the tree.
  auto again = resolve_kernel_headers(s);
  CHECK(again.path == c.path);
}

TEST_CASE("Ubuntu split headers pair with the unsuffixed tree", "[headers]") {
  TempDir t;
  auto s = search_in(t);
  fs::path common = fs::path(s.src_root) / "linux-headers-5.15.0-91";
  fs::path arch = fs::path(s.src_root) / "linux-headers-5.15.0-91-generic";
  touch(common / "include/linux/kconfig.h");
  touch(arch / "include/generated/autoconf.h");
  auto c = resolve_kernel_headers(s);
  CHECK(c.kind == HeaderChoice::Kind::Distribution);
  CHECK(c.version == "5.15.0-91-generic");
  CHECK(is_complete_header_tree(c.path));
}

TEST_CASE("nothing usable names the package", "[headers]") {
  TempDir t;
  auto s = search_in(t);
  fs::create_directories(fs::path(s.src_root) / "linux-headers-6.1.0-56-common/include");  // no generated half
  try {
    resolve_kernel_headers(s);
    FAIL("no exception");
  } catch (const UsageError&) {
    FAIL("not a usage error");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    CHECK(e.hint().find("linux-headers") != std::string::npos);
  }
}

TEST_CASE("--kernel-headers overrides, and junk is a usage error", "[headers]") {
  TempDir t;
  auto s = search_in(t);
  debian_pair(s.src_root, "6.1.0-56");
  SECTION("a complete tree is used as is") {
    fs::path full = t.path / "full";
    touch(full / "include/linux/kconfig.h");
    touch(full / "include/generated/autoconf.h");
    s.override_dir = full.string();
    auto c = resolve_kernel_headers(s);
    CHECK(c.kind == HeaderChoice::Kind::Override);
    CHECK(c.path == full.string());
  }
  SECTION("an arch half is paired with its common half") {
    s.override_dir = (fs::path(s.src_root) / "linux-headers-6.1.0-56-amd64").string();
    auto c = resolve_kernel_headers(s);
    CHECK(c.kind == HeaderChoice::Kind::Override);
    CHECK(is_complete_header_tree(c.path));
  }
  SECTION("junk") {
    fs::path junk = t.path / "junk";
    touch(junk / "README");
    s.override_dir = junk.string();
    CHECK_THROWS_AS(resolve_kernel_headers(s), UsageError);
    s.override_dir = (t.path / "missing").string();
    CHECK_THROWS_AS(resolve_kernel_headers(s), UsageError);
  }
}
