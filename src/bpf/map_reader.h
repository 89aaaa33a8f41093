// Reading a whole BPF hash map (BPF_MAP_TYPE_HASH / LRU_HASH) from user space with as
// few system calls as the kernel allows.
//
//  * Batched (kernel >= 5.6): BPF_MAP_LOOKUP_BATCH, or BPF_MAP_LOOKUP_AND_DELETE_BATCH
//    when draining. Thousands of entries per call. Draining is atomic per element: an
//    element's value is copied and the element removed under its bucket lock, so an
//    update that lands before the copy is read and one that lands after starts a new
//    element; nothing is lost between "read" and "delete" (see the caveat below).
//  * Iterated (fallback, or forced): BPF_MAP_GET_NEXT_KEY + BPF_MAP_LOOKUP_ELEM, one
//    call per entry and key; draining uses BPF_MAP_LOOKUP_AND_DELETE_ELEM (hash maps:
//    kernel >= 5.14), else lookup then delete (which can lose updates in between).
//    get_next_key restarts from the first key when the current one was deleted
//    concurrently (LRU eviction), so an iterated read of a changing map may repeat or
//    miss entries: it is bounded to 2 x max_entries steps.
//
// Auto tries the batch calls first and falls back for good on EINVAL/ENOTSUPP
// (kernel without batch support for the map type).
//
// Caveat for draining a map a BPF program updates in place (lookup, then atomic add
// through the returned pointer): a program that looked an element up just before it
// was deleted may still add to it afterwards, and that add is lost. The window is the
// few instructions between the program's lookup and its add.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace tracekit {

enum class MapReadMode { Auto, Batch, Iterate };

class HashMapReader {
 public:
  // map_fd is borrowed (not closed). Sizes as the map was created with.
  HashMapReader(int map_fd, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                MapReadMode mode = MapReadMode::Auto);
  // The same, with the sizes asked from the kernel (BPF_OBJ_GET_INFO_BY_FD).
  explicit HashMapReader(int map_fd, MapReadMode mode = MapReadMode::Auto);

  // Reads every entry (drain: and deletes what it read) into the buffers below.
  // Returns the number of entries. Throws tracekit::Error on a failed system call.
  size_t read(bool drain = false);

  size_t size() const { return count_; }
  uint32_t max_entries() const { return max_entries_; }
  const uint8_t* key(size_t i) const { return keys_.data() + i * key_size_; }
  const uint8_t* value(size_t i) const { return values_.data() + i * value_size_; }
  template <class K>
  K key_as(size_t i) const {
    K k;
    static_assert(std::is_trivially_copyable_v<K>);
    std::memcpy(&k, key(i), sizeof k);
    return k;
  }
  template <class V>
  V value_as(size_t i) const {
    V v;
    static_assert(std::is_trivially_copyable_v<V>);
    std::memcpy(&v, value(i), sizeof v);
    return v;
  }

  // Facts about the last read().
  bool batched() const { return batched_; }      // batch calls were used
  size_t syscalls() const { return syscalls_; }  // bpf() calls made
  std::chrono::nanoseconds took() const { return took_; }

 private:
  size_t read_batch(bool drain);  // returns SIZE_MAX if the kernel has no batch ops
  size_t read_iterate(bool drain);
  void reserve(size_t entries);

  int fd_;
  uint32_t key_size_ = 0, value_size_ = 0, max_entries_ = 0;
  MapReadMode mode_;
  std::vector<uint8_t> keys_, values_;
  size_t count_ = 0;
  bool batched_ = false;
  size_t syscalls_ = 0;
  std::chrono::nanoseconds took_{0};
  bool lookup_and_delete_elem_works_ = true;
};

}  // namespace tracekit
