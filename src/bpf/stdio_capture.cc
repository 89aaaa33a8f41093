#include "bpf/stdio_capture.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>

namespace tracekit {

StdioCapture::StdioCapture() {
  std::fflush(stdout);
  std::fflush(stderr);
  file_ = ::memfd_create("tracekit-capture", MFD_CLOEXEC);
  if (file_ < 0) return;  // nothing captured; output goes where it went before
  saved_out_ = ::dup(1);
  saved_err_ = ::dup(2);
  ::dup2(file_, 1);
  ::dup2(file_, 2);
}

StdioCapture::~StdioCapture() { finish(); }

std::string StdioCapture::finish() {
  if (file_ < 0) return {};
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(saved_out_, 1);
  ::dup2(saved_err_, 2);
  ::close(saved_out_);
  ::close(saved_err_);
  std::string text;
  char buf[4096];
  ssize_t n;
  off_t off = 0;
  while ((n = ::pread(file_, buf, sizeof buf, off)) > 0 && text.size() < (1U << 20)) {
    text.append(buf, static_cast<size_t>(n));
    off += n;
  }
  ::close(file_);
  file_ = -1;
  return text;
}

}  // namespace tracekit
