#include "bpf/stdio_capture.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>

namespace tracekit {

StdioCapture::StdioCapture() {
  std::fflush(stdout);
  std::fflush(stderr);
  file_.reset(::memfd_create("tracekit-capture", MFD_CLOEXEC));
  if (!file_) return;  // nothing captured; output goes where it went before
  saved_out_.reset(::dup(1));
  saved_err_.reset(::dup(2));
  ::dup2(file_.get(), 1);
  ::dup2(file_.get(), 2);
}

StdioCapture::~StdioCapture() { finish(); }

std::string StdioCapture::finish() {
  if (!file_) return {};
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(saved_out_.get(), 1);
  ::dup2(saved_err_.get(), 2);
  saved_out_.reset();
  saved_err_.reset();
  std::string text;
  char buf[4096];
  ssize_t n;
  off_t off = 0;
  while ((n = ::pread(file_.get(), buf, sizeof buf, off)) > 0 && text.size() < (1U << 20)) {
    text.append(buf, static_cast<size_t>(n));
    off += n;
  }
  file_.reset();
  return text;
}

}  // namespace tracekit
