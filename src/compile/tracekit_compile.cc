// tracekit-compile: the one tracekit binary that links LLVM (through bcc).
//
//   tracekit-compile [CFLAG...] < TEXT > ARTIFACT
//
// Compiles a bcc text exactly as ebpf::BPF::init does (BPFModule::load_string, same
// cflags, the kernel headers that BCC_KERNEL_SOURCE points at) and writes what the compile
// produced as an Artifact (src/util/artifact.h) on stdout. bcc creates the maps while it
// compiles and patches their fds into the ld_imm64 instructions; those are mapped back to
// table indices and cleared. The maps die with this process: the tool creates its own from
// the definitions. Everything bcc prints goes to stderr, which the tool captures.
// Exit 0 on success, 1 when the compile fails, 2 on usage errors. The tools run it
// (src/bpf/bpf_program.cc); it is not meant to be run by hand.
#include <bcc/bpf_module.h>
#include <bpf/bpf.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "util/artifact.h"

namespace {

constexpr uint8_t kLdImm64 = BPF_LD | BPF_IMM | BPF_DW;

bool write_all(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Which map's definition bcc used as the inner template of map-in-map `outer`: the kernel
// accepts a map in an outer map only when it matches the template (type, sizes, flags).
int find_inner(ebpf::BPFModule& mod, size_t outer) {
  int outer_fd = mod.table_fd(outer);
  std::vector<uint8_t> key(mod.table_key_size(outer), 0);
  for (size_t j = 0; j < mod.num_tables(); ++j) {
    int type = mod.table_type(j);
    if (j == outer || type == BPF_MAP_TYPE_ARRAY_OF_MAPS || type == BPF_MAP_TYPE_HASH_OF_MAPS) continue;
    int fd = mod.table_fd(j);
    if (bpf_map_update_elem(outer_fd, key.data(), &fd, BPF_ANY) == 0) {
      bpf_map_delete_elem(outer_fd, key.data());
      return static_cast<int>(j);
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0)) {
    std::cout << "Usage: tracekit-compile [CFLAG...] < TEXT > ARTIFACT\n"
                 "Compiles a bcc text for the tracekit tools (they run it; see docs/DESIGN.md).\n";
    return 0;
  }
  if (::isatty(1)) {
    std::cerr << "tracekit-compile: writes a binary artifact; redirect stdout (see --help)\n";
    return 2;
  }
  int out = ::dup(1);
  ::dup2(2, 1);  // bcc's own messages go to stderr, stdout carries the artifact
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::vector<const char*> cflags;
  for (int i = 1; i < argc; ++i) cflags.push_back(argv[i]);

  ebpf::BPFModule mod(0, nullptr, /*rw_engine_enabled=*/false);
  if (mod.load_string(text, cflags.data(), static_cast<int>(cflags.size())) != 0) {
    std::cerr << "tracekit-compile: Unable to initialize BPF program\n";
    return 1;
  }
  tracekit::Artifact a;
  a.license = mod.license() ? mod.license() : "";
  a.kern_version = mod.kern_version();
  for (size_t i = 0; i < mod.num_tables(); ++i) {
    tracekit::ArtifactMap m;
    m.name = mod.table_name(i);
    m.type = static_cast<uint32_t>(mod.table_type(i));
    m.key_size = static_cast<uint32_t>(mod.table_key_size(i));
    m.value_size = static_cast<uint32_t>(mod.table_leaf_size(i));
    m.max_entries = static_cast<uint32_t>(mod.table_max_entries(i));
    m.flags = static_cast<uint32_t>(mod.table_flags(i));
    if (m.type == BPF_MAP_TYPE_ARRAY_OF_MAPS || m.type == BPF_MAP_TYPE_HASH_OF_MAPS) {
      m.inner = find_inner(mod, i);
      if (m.inner < 0) {
        std::cerr << "tracekit-compile: cannot tell the inner map of " << m.name << "\n";
        return 1;
      }
    }
    a.maps.push_back(m);
  }
  for (size_t i = 0; i < mod.num_functions(); ++i) {
    tracekit::ArtifactProgram p;
    p.name = mod.function_name(i);
    const uint8_t* start = mod.function_start(i);
    size_t n = mod.function_size(i) / sizeof(bpf_insn);
    p.insns.resize(n);
    std::memcpy(p.insns.data(), start, n * sizeof(bpf_insn));
    for (size_t k = 0; k + 1 < n; ++k) {
      bpf_insn& in = p.insns[k];
      if (in.code != kLdImm64) continue;
      if (in.src_reg == BPF_PSEUDO_MAP_FD) {
        int map = -1;
        for (size_t t = 0; t < mod.num_tables(); ++t)
          if (mod.table_fd(t) == in.imm) map = static_cast<int>(t);
        if (map < 0) {
          std::cerr << "tracekit-compile: " << p.name << ": instruction " << k << " refers to an unknown map fd\n";
          return 1;
        }
        p.relocs.push_back({static_cast<uint32_t>(k), static_cast<uint32_t>(map)});
        in.imm = 0;
        p.insns[k + 1].imm = 0;
      }
      ++k;
    }
    a.programs.push_back(std::move(p));
  }
  std::string problem = tracekit::validate_artifact(a);
  if (!problem.empty()) {
    std::cerr << "tracekit-compile: cannot store what bcc produced: " << problem << "\n";
    return 1;
  }
  if (!write_all(out, tracekit::serialize_artifact(a, tracekit::Digest{}))) {
    std::cerr << "tracekit-compile: cannot write the artifact: " << std::strerror(errno) << "\n";
    return 1;
  }
  return 0;
}
