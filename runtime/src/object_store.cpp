// ObjectStore's core: the node arena's table of objects (owned ones and copies of
// other nodes' objects), pins, and the fetch / drop / stats requests that the
// transport's service answers for other nodes.
//
// The table lives in the arena, next to the objects, and one process-shared mutex
// guards it; no rank holds it across an MPI call, a copy of an object's bytes or a
// user's code. An entry is
//   - owned (its key's node is this node): put by one of the node's ranks;
//   - a copy of another node's object: `fetching` while one rank of the node brings
//     the bytes over (the node's other ranks wait for it), then ready.
// Pins count the views (and transfers) reading an entry's bytes. `free` marks the
// owner's entry freed and sends every other node a drop; an entry's bytes go when it
// is freed (or dropped) and unpinned. Object numbers are never reused, so an owned
// entry that is not in the table was freed. When the arena is full, unpinned copies
// of other nodes' objects are evicted, least recently used first.
#include <algorithm>
#include <boost/interprocess/containers/map.hpp>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "arena.hpp"
#include "context.hpp"
#include "lagoon/detail/agree.hpp"
#include "lagoon/detail/store_core.hpp"
#include "lagoon/error.hpp"
#include "lagoon/memory.hpp"
#include "transport.hpp"

namespace lagoon::detail {
namespace {

using Lock = std::lock_guard<bip::interprocess_mutex>;

struct ObjectKey {
  std::int32_t node = 0;
  std::uint64_t serial = 0;
  friend auto operator<=>(const ObjectKey&, const ObjectKey&) = default;
};

struct ObjectEntry {
  std::uint64_t handle = 0;  ///< of the bytes in the arena
  std::uint64_t bytes = 0;
  std::uint64_t tag = 0;
  std::uint64_t last_use = 0;
  std::int32_t owner_rank = -1;  ///< the world rank that put it (owned entries)
  std::uint32_t pins = 0;
  bool fetching = false;
  bool freed = false;
  char type[88] = {};  ///< the type's name, for messages (truncated)
};

using ObjectMap =
    bip::map<ObjectKey, ObjectEntry, std::less<ObjectKey>, HeapAllocator<std::pair<const ObjectKey, ObjectEntry>>>;

/// The node's table, in its arena.
struct StoreTable {
  explicit StoreTable(const HeapAllocator<std::pair<const ObjectKey, ObjectEntry>>& a) : objects(a) {}
  bip::interprocess_mutex mutex;
  std::uint64_t next_serial = 0;
  std::uint64_t clock = 0;
  std::uint64_t fetches = 0;
  std::uint64_t cache_hits = 0;
  std::uint64_t evictions = 0;
  ObjectMap objects;
};

/// The store's own requests, in Header::kind.
enum class StoreOp : std::uint32_t { fetch = 1, drop, stats };

/// A fetch's payload: what the client believes the object is.
struct FetchAsk {
  std::uint64_t tag = 0;
  std::uint64_t bytes = 0;
};

constexpr const char* kTableName = "lagoon.store";

std::string object_text(int node, std::uint64_t serial) {
  return "object " + std::to_string(serial) + " of node " + std::to_string(node);
}

std::string entry_type(const ObjectEntry& e) { return std::string(e.type, strnlen(e.type, sizeof e.type)); }

}  // namespace

class StoreState final : public Handler {
 public:
  void serve(const Request& request, Transport& transport) override;

  /// Frees an entry's bytes and erases it, if it is freed (or a dropped copy) and
  /// unpinned. Needs the table's mutex.
  void release_if_unused(ObjectMap::iterator it) {
    if (it->second.pins != 0 || !it->second.freed || it->second.fetching) return;
    arena.deallocate(arena.address(it->second.handle));
    table->objects.erase(it);
  }

  /// Room for `bytes`, evicting unpinned copies of other nodes' objects (least
  /// recently used first) while the heap has none; throws OutOfMemory. Needs the mutex.
  std::byte* allocate(std::size_t bytes, const char* call) {
    if (std::byte* p = arena.allocate(bytes)) return p;
    std::vector<ObjectMap::iterator> copies;
    for (auto it = table->objects.begin(); it != table->objects.end(); ++it)
      if (it->first.node != node && it->second.pins == 0 && !it->second.fetching) copies.push_back(it);
    std::sort(copies.begin(), copies.end(), [](auto a, auto b) { return a->second.last_use < b->second.last_use; });
    for (auto it : copies) {
      arena.deallocate(arena.address(it->second.handle));
      table->objects.erase(it);
      ++table->evictions;
      if (std::byte* p = arena.allocate(bytes)) return p;
    }
    std::size_t owned = 0;
    std::size_t pinned = 0;
    for (const auto& [key, e] : table->objects) {
      if (key.node == node && !e.freed) ++owned;
      if (key.node != node && (e.pins != 0 || e.fetching)) ++pinned;
    }
    throw OutOfMemory(what + "." + call + ": node " + std::to_string(node) + "'s arena cannot hold " +
                      std::to_string(bytes) + " bytes: " + std::to_string(arena.free_bytes()) + " bytes free of " +
                      std::to_string(arena.capacity()) + " (" + std::to_string(owned) + " objects of its own, " +
                      std::to_string(pinned) +
                      " copies in use; free objects or make the store larger: "
                      "LAGOON_STORE_BYTES)" +
                      on_rank());
  }

  StoreStats stats_locked() const {
    StoreStats s;
    s.node = node;
    s.capacity = arena.capacity();
    s.used = arena.capacity() - arena.free_bytes();
    for (const auto& [key, e] : table->objects) {
      if (e.freed || e.fetching) continue;
      if (key.node == node) {
        ++s.objects;
        s.object_bytes += e.bytes;
      } else {
        ++s.cached;
        s.cached_bytes += e.bytes;
      }
    }
    s.fetches = table->fetches;
    s.cache_hits = table->cache_hits;
    s.evictions = table->evictions;
    return s;
  }

  /// Checks a live entry against what the reader asks; throws ObjectFreed or TypeMismatch.
  void check_entry(const ObjectEntry& e, const ObjectKey& key, std::uint64_t tag, std::string_view type,
                   std::uint64_t bytes) const {
    if (e.freed) throw ObjectFreed(what + ".get: " + object_text(key.node, key.serial) + " was freed" + on_rank());
    if (e.tag != tag)
      throw TypeMismatch(what + ".get: " + object_text(key.node, key.serial) + " holds " + entry_type(e) + ", not " +
                         std::string(type) + on_rank());
    if (e.bytes != bytes)
      throw InvalidArgument(what + ".get: the ref says " + std::to_string(bytes) + " bytes, but " +
                            object_text(key.node, key.serial) + " has " + std::to_string(e.bytes) +
                            " (a corrupt ref?)" + on_rank());
  }

  std::shared_ptr<Context> ctx;
  Arena arena;
  StoreTable* table = nullptr;
  Transport* transport = nullptr;
  std::uint32_t id = 0;
  int node = 0;
  std::string what;
  std::string capacity_source;
  bool open = true;
};

void StoreState::serve(const Request& request, Transport& t) {
  const Header& h = request.header;
  const ObjectKey key{node, h.offset};
  switch (static_cast<StoreOp>(h.kind)) {
    case StoreOp::fetch: {
      FetchAsk ask;
      if (request.inline_payload.size() != sizeof ask) throw Error(what + ": a malformed fetch");
      std::memcpy(&ask, request.inline_payload.data(), sizeof ask);
      const std::byte* data = nullptr;
      {
        const Lock lock(table->mutex);
        const auto it = table->objects.find(key);
        if (it == table->objects.end())
          throw ObjectFreed(what + ".get: " + object_text(node, h.offset) + " was freed" + on_rank());
        check_entry(it->second, key, ask.tag, "the type the ref was made for", ask.bytes);
        ++it->second.pins;  // the bytes stay while they go out
        data = arena.address(it->second.handle);
      }
      struct Unpin {
        StoreState& s;
        ObjectKey key;
        ~Unpin() {
          const Lock lock(s.table->mutex);
          if (auto it = s.table->objects.find(key); it != s.table->objects.end()) {
            --it->second.pins;
            s.release_if_unused(it);
          }
        }
      } unpin{*this, key};
      t.answer(request, {data, static_cast<std::size_t>(ask.bytes)});
      return;
    }
    case StoreOp::drop: {
      // The owner (the requesting rank's node) freed an object: drop this node's copy
      // (its bytes go once no view reads them).
      const ObjectKey copy{ctx->node_of_rank.at(static_cast<std::size_t>(request.source)), h.offset};
      const Lock lock(table->mutex);
      if (auto it = table->objects.find(copy); it != table->objects.end()) {
        it->second.freed = true;
        release_if_unused(it);
      }
      return;
    }
    case StoreOp::stats: {
      StoreStats s;
      {
        const Lock lock(table->mutex);
        s = stats_locked();
      }
      t.answer(request, std::as_bytes(std::span<const StoreStats, 1>(&s, 1)));
      return;
    }
  }
  throw Error(what + ": an unknown request (" + std::to_string(h.kind) + ")");
}

// ---- Pin ----

Pin::Pin() noexcept = default;
Pin::Pin(Pin&& other) noexcept { *this = std::move(other); }

Pin& Pin::operator=(Pin&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
    ref_ = other.ref_;
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    fetched_ = other.fetched_;
    owned_here_ = other.owned_here_;
  }
  return *this;
}

Pin::~Pin() { reset(); }

void Pin::reset() noexcept {
  if (!state_) return;
  auto state = std::move(state_);
  data_ = nullptr;
  bytes_ = 0;
  if (!state->open || state->ctx->finalized()) return;
  const Lock lock(state->table->mutex);
  if (auto it = state->table->objects.find(ObjectKey{ref_.node, ref_.serial}); it != state->table->objects.end()) {
    --it->second.pins;
    state->release_if_unused(it);
  }
}

// ---- StoreCore ----

std::size_t StoreCore::default_capacity() {
  constexpr std::size_t kDefault = std::size_t{1} << 30;
  const std::size_t eighth = available_memory() / 8 / (1u << 20) * (1u << 20);
  return eighth > 0 ? std::min(kDefault, eighth) : kDefault;
}

StoreCore::StoreCore(const Runtime& rt, std::size_t bytes) : state_(std::make_shared<StoreState>()) {
  auto& s = *state_;
  s.ctx = rt.context();
  s.what = "lagoon::ObjectStore";
  s.ctx->check_alive(s.what.c_str());
  const SameOnAllRanks same = arena_agreement(bytes, s.what);
  std::uint64_t capacity = bytes;
  s.capacity_source = "the constructor";
  agree(
      s.ctx->world,
      [&] {
        if (capacity != 0 || rt.rank() != 0) return;
        capacity = s.ctx->settings.store_bytes != 0 ? s.ctx->settings.store_bytes : default_capacity();
      },
      &same);
  if (bytes == 0) {
    mpi::check(MPI_Bcast(&capacity, 1, MPI_UINT64_T, 0, s.ctx->world), "MPI_Bcast");
    s.capacity_source = s.ctx->settings.store_bytes != 0 ? "LAGOON_STORE_BYTES" : "the default";
  }
  s.node = rt.node();
  s.arena = Arena(rt, static_cast<std::size_t>(capacity), s.what, [](Heap& heap) {
    heap.construct<StoreTable>(kTableName)(
        HeapAllocator<std::pair<const ObjectKey, ObjectEntry>>(heap.get_segment_manager()));
  });
  s.table = s.arena.heap().find<StoreTable>(kTableName).first;
  s.transport = serve_object(*s.ctx, s, s.id);
}

StoreCore::~StoreCore() {
  auto& s = *state_;
  stop_serving(*s.ctx, s.transport, s.id, s.what);
  s.open = false;  // views that outlive the store no longer unpin
  if (!s.ctx->finalized()) s.arena.release();
}

RefData StoreCore::put(std::uint64_t tag, std::string_view type, std::span<const std::byte> bytes) {
  auto& s = *state_;
  s.arena.segment().check_alive();
  std::byte* at = nullptr;
  RefData ref{s.id, s.node, 0, bytes.size(), tag};
  {
    const Lock lock(s.table->mutex);
    at = s.allocate(bytes.size(), "put");
    ref.serial = ++s.table->next_serial;
  }
  if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
  ObjectEntry e;
  e.handle = s.arena.handle(at);
  e.bytes = bytes.size();
  e.tag = tag;
  e.owner_rank = s.ctx->world.rank();
  type.copy(e.type, std::min(type.size(), sizeof e.type - 1));
  try {
    const Lock lock(s.table->mutex);
    e.last_use = ++s.table->clock;
    s.table->objects.emplace(ObjectKey{s.node, ref.serial}, e);
  } catch (const bip::bad_alloc&) {
    const Lock lock(s.table->mutex);
    s.arena.deallocate(at);
    throw OutOfMemory(s.what + ".put: node " + std::to_string(s.node) + "'s arena has no room left for its table" +
                      on_rank());
  }
  return ref;
}

Pin StoreCore::pin(const RefData& ref, std::uint64_t tag, std::string_view type) const {
  auto& s = *state_;
  s.arena.segment().check_alive();
  if (ref.store == 0) throw InvalidArgument(s.what + ".get: an empty ObjectRef" + on_rank());
  if (ref.store != s.id || ref.node < 0 || ref.node >= s.ctx->node_count)
    throw InvalidArgument(s.what + ".get: the ref belongs to another store (or is corrupt)" + on_rank());
  if (ref.tag != tag)
    throw TypeMismatch(s.what + ".get: the ref was made for another type than " + std::string(type) + on_rank());
  Pin pin;
  pin.ref_ = ref;
  pin.owned_here_ = ref.node == s.node;
  const ObjectKey key{ref.node, ref.serial};

  if (ref.node == s.node) {
    const Lock lock(s.table->mutex);
    const auto it = s.table->objects.find(key);
    if (it == s.table->objects.end()) {
      if (ref.serial == 0 || ref.serial > s.table->next_serial)
        throw InvalidArgument(s.what + ".get: no " + object_text(ref.node, ref.serial) + " (a corrupt ref?)" +
                              on_rank());
      throw ObjectFreed(s.what + ".get: " + object_text(ref.node, ref.serial) + " was freed" + on_rank());
    }
    s.check_entry(it->second, key, tag, type, ref.bytes);
    ++it->second.pins;
    it->second.last_use = ++s.table->clock;
    pin.data_ = s.arena.address(it->second.handle);
    pin.bytes_ = ref.bytes;
    pin.state_ = state_;
    return pin;
  }

  // Another node's object: read this node's copy, wait for the rank bringing it over,
  // or bring it over.
  std::byte* at = nullptr;
  for (auto pause = std::chrono::microseconds(1);; pause = std::min(2 * pause, std::chrono::microseconds(1000))) {
    {
      const Lock lock(s.table->mutex);
      const auto it = s.table->objects.find(key);
      if (it == s.table->objects.end()) {
        at = s.allocate(ref.bytes, "get");
        ObjectEntry e;
        e.handle = s.arena.handle(at);
        e.bytes = ref.bytes;
        e.tag = ref.tag;
        e.pins = 1;
        e.fetching = true;
        e.last_use = ++s.table->clock;
        type.copy(e.type, std::min(type.size(), sizeof e.type - 1));
        try {
          s.table->objects.emplace(key, e);
        } catch (const bip::bad_alloc&) {
          s.arena.deallocate(at);
          throw OutOfMemory(s.what + ".get: node " + std::to_string(s.node) +
                            "'s arena has no room left for its table" + on_rank());
        }
        ++s.table->fetches;
        break;
      }
      if (!it->second.fetching) {
        s.check_entry(it->second, key, tag, type, ref.bytes);
        ++it->second.pins;
        it->second.last_use = ++s.table->clock;
        ++s.table->cache_hits;
        pin.data_ = s.arena.address(it->second.handle);
        pin.bytes_ = ref.bytes;
        pin.state_ = state_;
        return pin;
      }
    }
    std::this_thread::sleep_for(pause);  // another rank of the node is bringing it over
  }

  // This rank brings it over, straight into the arena.
  std::exception_ptr error;
  try {
    Header header{Op::call, s.id};
    header.kind = static_cast<std::uint32_t>(StoreOp::fetch);
    header.offset = ref.serial;
    const FetchAsk ask{ref.tag, ref.bytes};
    s.transport->call_into(ref.node, header, std::as_bytes(std::span<const FetchAsk, 1>(&ask, 1)),
                           std::span<std::byte>(at, ref.bytes), s.what);
  } catch (...) {
    error = std::current_exception();
  }
  const Lock lock(s.table->mutex);
  const auto it = s.table->objects.find(key);
  it->second.fetching = false;
  if (error || it->second.freed) {
    // Failed, or freed by its owner meanwhile: no copy stays.
    --it->second.pins;
    it->second.freed = true;
    s.release_if_unused(it);
    if (error) std::rethrow_exception(error);
    throw ObjectFreed(s.what + ".get: " + object_text(ref.node, ref.serial) + " was freed" + on_rank());
  }
  pin.data_ = at;
  pin.bytes_ = ref.bytes;
  pin.fetched_ = true;
  pin.state_ = state_;
  return pin;
}

void StoreCore::free(const RefData& ref) {
  auto& s = *state_;
  s.arena.segment().check_alive();
  if (ref.store == 0) throw InvalidArgument(s.what + ".free: an empty ObjectRef" + on_rank());
  if (ref.store != s.id) throw InvalidArgument(s.what + ".free: the ref belongs to another store" + on_rank());
  if (ref.node != s.node)
    throw InvalidArgument(s.what + ".free: " + object_text(ref.node, ref.serial) +
                          " belongs to another node; only the rank that put it can free it" + on_rank());
  {
    const Lock lock(s.table->mutex);
    const auto it = s.table->objects.find(ObjectKey{ref.node, ref.serial});
    if (it == s.table->objects.end() || it->second.freed)
      throw ObjectFreed(s.what + ".free: " + object_text(ref.node, ref.serial) + " was already freed" + on_rank());
    if (it->second.owner_rank != s.ctx->world.rank())
      throw InvalidArgument(s.what + ".free: " + object_text(ref.node, ref.serial) + " was put by world rank " +
                            std::to_string(it->second.owner_rank) + "; only that rank can free it" + on_rank());
    it->second.freed = true;
    s.release_if_unused(it);
  }
  if (!s.transport) return;
  // Every other node drops its copy; the flush returns once they all have.
  Header header{Op::post, s.id};
  header.kind = static_cast<std::uint32_t>(StoreOp::drop);
  header.offset = ref.serial;
  for (int n = 0; n < s.ctx->node_count; ++n)
    if (n != s.node) s.transport->send_one_way(n, header, {});
  s.transport->flush();
}

StoreStats StoreCore::local_stats() const {
  auto& s = *state_;
  s.arena.segment().check_alive();
  const Lock lock(s.table->mutex);
  return s.stats_locked();
}

std::vector<StoreStats> StoreCore::stats() const {
  auto& s = *state_;
  std::vector<StoreStats> all(static_cast<std::size_t>(s.ctx->node_count));
  for (int n = 0; n < s.ctx->node_count; ++n) {
    if (n == s.node) {
      all[static_cast<std::size_t>(n)] = local_stats();
      continue;
    }
    Header header{Op::call, s.id};
    header.kind = static_cast<std::uint32_t>(StoreOp::stats);
    const auto answer = s.transport->call(n, header, {}, s.what);
    if (answer.size() != sizeof(StoreStats))
      throw Error(s.what + ".stats: node " + std::to_string(n) + " sent a malformed answer" + on_rank());
    std::memcpy(&all[static_cast<std::size_t>(n)], answer.data(), sizeof(StoreStats));
  }
  return all;
}

std::size_t StoreCore::capacity() const noexcept { return state_->arena.capacity(); }
bool StoreCore::in_arena(const void* p) const noexcept { return state_->arena.contains(p); }

std::string StoreCore::describe() const {
  const auto& s = *state_;
  const StoreStats st = local_stats();
  return s.what + ": an arena of " + format_bytes(static_cast<double>(s.arena.capacity())) + " per node (from " +
         s.capacity_source + "; default " + format_bytes(static_cast<double>(default_capacity())) +
         ", set LAGOON_STORE_BYTES to change it) on " + std::to_string(s.ctx->node_count) + " node(s); node " +
         std::to_string(s.node) + ": " + format_bytes(static_cast<double>(st.used)) + " used, " +
         std::to_string(st.objects) + " objects, " + std::to_string(st.cached) + " cached copies";
}

}  // namespace lagoon::detail
