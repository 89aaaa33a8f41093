// See map_reader.h.
#include "bpf/map_reader.h"

#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "util/error.h"

namespace tracekit {

namespace {

constexpr size_t kBatchEntries = 8192;  // entries asked for per batch call (grows on ENOSPC)
constexpr int kENOTSUPP = 524;          // kernel-internal "not supported" seen by user space

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

bool no_batch_support(int err) {
  err = err < 0 ? -err : err;
  return err == EINVAL || err == kENOTSUPP || err == EOPNOTSUPP || err == ENOSYS;
}

}  // namespace

HashMapReader::HashMapReader(int map_fd, uint32_t key_size, uint32_t value_size, uint32_t max_entries, MapReadMode mode)
    : fd_(map_fd), key_size_(key_size), value_size_(value_size), max_entries_(max_entries), mode_(mode) {}

HashMapReader::HashMapReader(int map_fd, MapReadMode mode) : fd_(map_fd), mode_(mode) {
  bpf_map_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0)
    throw Error(std::string("cannot read the description of a BPF map: ") + std::strerror(errno));
  key_size_ = info.key_size;
  value_size_ = info.value_size;
  max_entries_ = info.max_entries;
}

void HashMapReader::reserve(size_t entries) {
  if (keys_.size() < entries * key_size_) keys_.resize(entries * key_size_);
  if (values_.size() < entries * value_size_) values_.resize(entries * value_size_);
}

size_t HashMapReader::read(bool drain) {
  auto start = std::chrono::steady_clock::now();
  syscalls_ = 0;
  count_ = 0;
  size_t n = SIZE_MAX;
  if (mode_ != MapReadMode::Iterate) {
    n = read_batch(drain);
    if (n == SIZE_MAX) {
      if (mode_ == MapReadMode::Batch) throw Error("this kernel has no batch operations for BPF hash maps");
      mode_ = MapReadMode::Iterate;  // for good
    }
  }
  batched_ = n != SIZE_MAX;
  if (!batched_) n = read_iterate(drain);
  count_ = n;
  took_ = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
  return n;
}

size_t HashMapReader::read_batch(bool drain) {
  // The hash map's batch position is a bucket index (u32); give it room anyway.
  std::vector<uint8_t> in_batch(std::max<size_t>(key_size_, 8)), out_batch(in_batch.size());
  bool first = true;
  size_t total = 0;
  size_t want = kBatchEntries;
  bpf_map_batch_opts opts{};
  opts.sz = sizeof(opts);
  for (;;) {
    reserve(total + want);
    __u32 count = static_cast<__u32>(want);
    int err = drain ? bpf_map_lookup_and_delete_batch(fd_, first ? nullptr : in_batch.data(), out_batch.data(),
                                                      keys_.data() + total * key_size_,
                                                      values_.data() + total * value_size_, &count, &opts)
                    : bpf_map_lookup_batch(fd_, first ? nullptr : in_batch.data(), out_batch.data(),
                                           keys_.data() + total * key_size_, values_.data() + total * value_size_,
                                           &count, &opts);
    ++syscalls_;
    int e = err < 0 ? errno : 0;   // libbpf 1.x: returns -errno and sets errno
    if (err < 0 && e == ENOENT) {  // done; the last entries came with it
      total += count;
      return total;
    }
    if (err < 0 && e == ENOSPC && count == 0) {  // one bucket holds more than `want`
      want *= 2;
      continue;
    }
    if (err < 0) {
      if (first && total == 0 && no_batch_support(e)) return SIZE_MAX;
      throw Error("cannot read BPF map (batch): " + errno_text(e));
    }
    total += count;
    first = false;
    std::swap(in_batch, out_batch);
    // A map that keeps growing while drained is still bounded: stop after one map's
    // worth of extra entries (the rest is read next time).
    if (total > 2 * static_cast<size_t>(max_entries_) + want) return total;
  }
}

size_t HashMapReader::read_iterate(bool drain) {
  std::vector<uint8_t> cur(key_size_), next(key_size_);
  size_t total = 0;
  const size_t limit = 2 * static_cast<size_t>(max_entries_) + 1;
  bool have_cur = false;
  for (size_t step = 0; step < limit; ++step) {
    int err = bpf_map_get_next_key(fd_, have_cur ? cur.data() : nullptr, next.data());
    ++syscalls_;
    if (err < 0) {
      if (errno == ENOENT) break;
      throw Error("cannot read BPF map (get_next_key): " + errno_text(errno));
    }
    reserve(total + 1);
    std::memcpy(keys_.data() + total * key_size_, next.data(), key_size_);
    std::swap(cur, next);
    have_cur = true;
    ++total;
  }
  // Values, after the keys: deleting while walking would make get_next_key restart.
  size_t kept = 0;
  for (size_t i = 0; i < total; ++i) {
    uint8_t* k = keys_.data() + i * key_size_;
    uint8_t* v = values_.data() + kept * value_size_;
    int err = 0;
    if (drain && lookup_and_delete_elem_works_) {
      err = bpf_map_lookup_and_delete_elem(fd_, k, v);
      ++syscalls_;
      if (err < 0 && no_batch_support(errno)) {
        lookup_and_delete_elem_works_ = false;
      }
    }
    if (!drain || !lookup_and_delete_elem_works_) {
      err = bpf_map_lookup_elem(fd_, k, v);
      ++syscalls_;
      if (err == 0 && drain) {
        bpf_map_delete_elem(fd_, k);
        ++syscalls_;
      }
    }
    if (err < 0) {
      if (errno == ENOENT) continue;  // evicted or deleted since we saw its key
      throw Error("cannot read BPF map (lookup): " + errno_text(errno));
    }
    if (kept != i) std::memmove(keys_.data() + kept * key_size_, k, key_size_);
    ++kept;
  }
  return kept;
}

}  // namespace tracekit
