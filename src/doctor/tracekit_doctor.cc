// tracekit-doctor: checks what this host needs for each tool (work in progress).
#include <cstdio>
int main() {
  std::puts("tracekit-doctor: not yet");
  return 1;
}
