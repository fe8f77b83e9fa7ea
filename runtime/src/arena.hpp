// Arena: a node's Segment managed by Boost.Interprocess as a heap, so that every
// rank of the node can allocate in it and find the shared tables kept in it.
//
// The heap (managed_external_buffer) keeps its bookkeeping in the segment with
// offset pointers, so each rank maps it at its own address. Its mutexes are
// process-shared POSIX mutexes: a rank that dies holding one would leave the node's
// other ranks waiting, but lagoon is fail-stop (the launcher ends the job when a
// rank dies) and no lock is held across an MPI call or a user's code.
#pragma once

#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/managed_external_buffer.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "lagoon/detail/agree.hpp"
#include "lagoon/runtime.hpp"
#include "lagoon/segment.hpp"

namespace lagoon::detail {

namespace bip = boost::interprocess;
/// Every block of the heap is 64-byte aligned by the heap itself: a hole left by a
/// freed block then fits a new block of the same size (an over-aligned request on a
/// 16-byte heap needs room for its padding, so equal holes stayed unused).
using Heap = bip::basic_managed_external_buffer<char, bip::rbtree_best_fit<bip::mutex_family, bip::offset_ptr<void>, 64>,
                                                bip::iset_index>;
template <class T>
using HeapAllocator = bip::allocator<T, Heap::segment_manager>;

class Arena {
 public:
  /// Every allocation is aligned so (any Shareable element type fits).
  static constexpr std::size_t kAlignment = 64;

  Arena() = default;
  /// A segment of `bytes` per node; the node leader makes the heap in it and runs
  /// `create(heap)` (to construct the shared tables), then the other ranks open it.
  /// @note collective over the world
  Arena(const Runtime& rt, std::size_t bytes, std::string what, const std::function<void(Heap&)>& create);

  [[nodiscard]] Heap& heap() noexcept { return *heap_; }
  /// `bytes` bytes aligned to kAlignment, or null when the heap has no room.
  [[nodiscard]] std::byte* allocate(std::size_t bytes) noexcept;
  void deallocate(std::byte* p) noexcept;
  /// A position of `p` that means the same in every rank of the node.
  [[nodiscard]] std::uint64_t handle(const std::byte* p) const noexcept;
  [[nodiscard]] std::byte* address(std::uint64_t handle) const noexcept;
  [[nodiscard]] std::size_t capacity() const noexcept { return segment_.bytes(); }
  [[nodiscard]] std::size_t free_bytes() const noexcept { return heap_->get_free_memory(); }
  [[nodiscard]] bool contains(const void* p) const noexcept;
  [[nodiscard]] const Segment& segment() const noexcept { return segment_; }
  /// Unmaps the segment (collective over the node); the arena is empty after.
  void release() noexcept;

 private:
  Segment segment_;
  std::optional<Heap> heap_;
};

/// What the ranks must agree on before they build arenas of `bytes` for `what`: the
/// size, and the archive format (ranks built against another Boost could not read
/// each other's archives).
[[nodiscard]] SameOnAllRanks arena_agreement(std::size_t bytes, const std::string& what);

}  // namespace lagoon::detail
