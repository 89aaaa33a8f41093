// Where bcc finds kernel headers.
//
// bcc looks in /lib/modules/$(uname -r)/build, then /sys/kernel/kheaders.tar.xz, or
// wherever BCC_KERNEL_SOURCE points. When none of that would work (a kernel without
// its own header package), we take the newest distribution headers under /usr/src.
// Debian and Ubuntu split those in two trees, linux-headers-V-common (sources) and
// linux-headers-V-amd64 / linux-headers-V-generic (generated files), so we assemble a
// merged symlink tree under a cache directory and point BCC_KERNEL_SOURCE at it.
// Our programs use only UAPI headers and tracepoint formats, so headers of another
// kernel version are safe for them.
#pragma once

#include <string>

namespace tracekit {

struct HeaderSearch {
  std::string release;       // uname -r
  std::string override_dir;  // --kernel-headers
  std::string env_dir;       // $BCC_KERNEL_SOURCE, if set
  std::string modules_root = "/lib/modules";
  std::string kheaders = "/sys/kernel/kheaders.tar.xz";
  std::string src_root = "/usr/src";
  std::string cache_root = "/run/tracekit/kernel-headers";
};

struct HeaderChoice {
  enum class Kind { BccDefault, Environment, Override, Distribution };
  Kind kind = Kind::BccDefault;
  std::string path;     // directory to export as BCC_KERNEL_SOURCE (empty for BccDefault)
  std::string version;  // for Distribution: e.g. "6.1.0-56-amd64"
};

// A tree bcc can use as is: include/linux/kconfig.h and include/generated/autoconf.h.
bool is_complete_header_tree(const std::string& dir);

// Decides, and assembles a merged tree when needed. Throws UsageError for a junk
// --kernel-headers and Error (naming the package to install) when nothing is usable.
HeaderChoice resolve_kernel_headers(const HeaderSearch& search);

// Fills release and env_dir from the running system, then resolve_kernel_headers().
HeaderChoice resolve_kernel_headers(const std::string& override_dir);

}  // namespace tracekit
