// The node arena: a Boost.Interprocess heap inside a node Segment.
#include "arena.hpp"

#include <boost/version.hpp>

#include <new>

#include "context.hpp"
#include "lagoon/detail/agree.hpp"
#include "lagoon/error.hpp"

namespace lagoon::detail {

Arena::Arena(const Runtime& rt, std::size_t bytes, std::string what, const std::function<void(Heap&)>& create)
    : segment_(rt, bytes, kAlignment, what) {
  agree(rt.world(), [&] {
    if (!rt.is_node_leader()) return;
    try {
      heap_.emplace(bip::create_only, segment_.data(), segment_.bytes());
      create(*heap_);
    } catch (const bip::bad_alloc&) {
      throw OutOfMemory(what + ": an arena of " + std::to_string(bytes) + " bytes is too small to hold its own tables");
    } catch (const bip::interprocess_exception& e) {
      throw Error(what + ": could not make the arena's heap (" + e.what() + ")");
    }
  });
  segment_.fence();  // the heap and its tables, made by the leader, are seen by all
  if (!rt.is_node_leader()) heap_.emplace(bip::open_only, segment_.data(), segment_.bytes());
}

std::byte* Arena::allocate(std::size_t bytes) noexcept {
  static_assert(Heap::memory_algorithm::Alignment % kAlignment == 0);
  return static_cast<std::byte*>(heap_->allocate(bytes == 0 ? 1 : bytes, std::nothrow));
}

void Arena::deallocate(std::byte* p) noexcept { heap_->deallocate(p); }

std::uint64_t Arena::handle(const std::byte* p) const noexcept { return heap_->get_handle_from_address(p); }

std::byte* Arena::address(std::uint64_t handle) const noexcept {
  return static_cast<std::byte*>(heap_->get_address_from_handle(static_cast<Heap::handle_t>(handle)));
}

bool Arena::contains(const void* p) const noexcept {
  const auto* b = static_cast<const std::byte*>(p);
  return segment_.data() != nullptr && b >= segment_.data() && b < segment_.data() + segment_.bytes();
}

void Arena::release() noexcept {
  heap_.reset();
  segment_ = Segment();
}

SameOnAllRanks arena_agreement(std::size_t bytes, const std::string& what) {
  const std::uint64_t agreed[2] = {bytes, BOOST_VERSION};
  return {fingerprint(agreed, sizeof agreed), ErrorKind::invalid_argument,
          what + ": ranks passed different arena sizes, or were built with different Boost versions"};
}

}  // namespace lagoon::detail
