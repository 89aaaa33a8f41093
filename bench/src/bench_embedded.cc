#include "bench_embedded.h"

// BENCH_HAVE_<TOOL> is defined by bench/CMakeLists.txt for each lib<tool>_bpf_text.a found.
#ifdef BENCH_HAVE_EXECVE_DUMB
extern const char execve_dumb_bpf_text[];
#endif
#ifdef BENCH_HAVE_EXECVE_ENRICHED
extern const char execve_enriched_bpf_text[];
#endif
#ifdef BENCH_HAVE_TCP_TRACKER
extern const char tcp_tracker_bpf_text[];
#endif
#ifdef BENCH_HAVE_TCP_DURATION
extern const char tcp_duration_bpf_text[];
#endif

namespace bench {

const char* embedded_text(const std::string& tool) {
#ifdef BENCH_HAVE_EXECVE_DUMB
  if (tool == "execve_dumb") return execve_dumb_bpf_text;
#endif
#ifdef BENCH_HAVE_EXECVE_ENRICHED
  if (tool == "execve_enriched") return execve_enriched_bpf_text;
#endif
#ifdef BENCH_HAVE_TCP_TRACKER
  if (tool == "tcp_tracker") return tcp_tracker_bpf_text;
#endif
#ifdef BENCH_HAVE_TCP_DURATION
  if (tool == "tcp_duration") return tcp_duration_bpf_text;
#endif
  (void)tool;
  return nullptr;
}

}  // namespace bench
