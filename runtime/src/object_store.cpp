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
// of other nodes' objects are evicted, least recently used first; if that is not
// enough, unpinned objects of the node's own are spilled to files (spill.hpp), least
// recently used first, and a later get (here, or a fetch from another node) restores
// them. An owned entry is then
//   - resident: its bytes in the arena;
//   - spilling: one rank writes its bytes to its file (they stay readable meanwhile; a
//     get that pins it then keeps it resident);
//   - spilled: its bytes only in its file;
//   - restoring: one rank reads its file back into new room (the others wait).
// The rank that marks an entry spilling or restoring does the file I/O without the
// mutex and settles the entry under it afterwards; nothing erases an entry meanwhile.
// Objects are immutable, so a file once written stays right: a restored object keeps
// its file until it is freed, and spilling it again only gives its room back.
#include <algorithm>
#include <boost/interprocess/containers/map.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "lagoon/detail/store_core.hpp"
#include "lagoon/error.hpp"
#include "lagoon/memory.hpp"
#include "lagoon/mpi.hpp"
#include "lagoon/report.hpp"
#include "lagoon/detail/agree.hpp"
#include "lagoon/detail/replica.hpp"
#include "served.hpp"
#include "spill.hpp"

namespace lagoon::detail {
namespace {

using Lock = std::lock_guard<bip::interprocess_mutex>;

struct ObjectKey {
  std::int32_t node = 0;
  std::uint64_t serial = 0;
  friend auto operator<=>(const ObjectKey&, const ObjectKey&) = default;
};

/// Where an owned entry's bytes are (see the top of this file).
enum class Place : std::uint8_t { resident, spilling, spilled, restoring };

struct ObjectEntry {
  std::uint64_t handle = 0;  ///< of the bytes in the arena
  std::uint64_t bytes = 0;
  std::uint64_t tag = 0;
  std::uint64_t last_use = 0;
  std::int32_t owner_rank = -1;  ///< the world rank that put it (owned entries); kAnyRankOfTheNode: sealed
  std::uint32_t pins = 0;
  bool fetching = false;
  bool freed = false;
  bool adopted = false;  ///< its bytes are an adopted array's node copy, not in the arena
  Place place = Place::resident;
  bool on_disk = false;  ///< its spill file holds its bytes (always when spilled)
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
  std::uint64_t spills = 0;
  std::uint64_t restores = 0;
  ObjectMap objects;
};

/// What a store asks of another node's store.
enum class StoreOp : std::uint32_t {
  fetch = 1,  ///< answer: the object's bytes (the client checked they are `bytes`)
  drop,       ///< posted after `owner` freed `serial`: drop this node's copy
  stats,      ///< answer: the node's StoreStats
  release,    ///< free `serial` here, on behalf of lagoon (a task's result); answer: empty
};

/// The arguments of fetch and drop: the object, and what the client believes it is.
struct ObjectArgs {
  std::uint64_t serial = 0;
  std::uint64_t tag = 0;
  std::uint64_t bytes = 0;
  std::int32_t owner = -1;  ///< drop: the node that owned the object
  std::uint32_t reserved = 0;
};

constexpr const char* kTableName = "lagoon.store";

/// owner_rank of a sealed object: made by the node's ranks together, any of them frees it.
constexpr std::int32_t kAnyRankOfTheNode = -2;

std::string object_text(int node, std::uint64_t serial) {
  return "object " + std::to_string(serial) + " of node " + std::to_string(node);
}

std::string entry_type(const ObjectEntry& e) { return std::string(e.type, strnlen(e.type, sizeof e.type)); }

}  // namespace

class StoreState final : public ArenaServed {
 public:
  void serve(const Request& request, Transport& transport) override;

  /// Where an entry's bytes are in this process: in the arena, or an adopted array's
  /// node copy.
  std::byte* bytes_of(const ObjectKey& key, const ObjectEntry& e) const {
    if (!e.adopted) return arena.address(e.handle);
    const auto it = adopted.find(key.serial);
    if (it == adopted.end()) throw TransportError(what + ": an adopted object this process does not hold");
    return it->second.data();
  }

  /// A row for an object the node's ranks made together (sealed or adopted): any rank of
  /// the owning node may free it.
  static ObjectEntry node_made_entry(std::size_t bytes, std::uint64_t tag, std::string_view type) {
    ObjectEntry e;
    e.bytes = bytes;
    e.tag = tag;
    e.owner_rank = kAnyRankOfTheNode;
    type.copy(e.type, std::min(type.size(), sizeof e.type - 1));
    return e;
  }
  /// Enters a row in the table. Needs the table's mutex.
  void enter_locked(const ObjectKey& key, ObjectEntry& e, const char* call) {
    e.last_use = ++table->clock;
    try {
      table->objects.emplace(key, e);
    } catch (const bip::bad_alloc&) {
      throw OutOfMemory(what + "." + call + ": node " + std::to_string(node) + "'s arena has no room left for its table");
    }
  }

  /// Adopted arrays' node copies, by object number (each process holds its node's).
  std::map<std::uint64_t, Replica> adopted;

  /// Frees an entry's bytes and erases it, if it is freed (or a dropped copy), unpinned
  /// and no rank moves it to or from its file. Needs the table's mutex. Returns true
  /// when the entry had a spill file: the caller removes it, after unlocking.
  bool release_if_unused(ObjectMap::iterator it) {
    const ObjectEntry& e = it->second;
    if (e.pins != 0 || !e.freed || e.fetching || e.place == Place::spilling || e.place == Place::restoring)
      return false;
    const bool file = e.on_disk;
    if (!e.adopted && e.place != Place::spilled) arena.deallocate(arena.address(e.handle));
    table->objects.erase(it);
    return file;
  }

  /// Marks this node's own object `serial` freed (its bytes go once no view reads
  /// them, its spill file at once); ObjectFreed when it was freed already.
  void mark_freed(std::uint64_t serial, const char* call) {
    bool file = false;
    {
      const Lock lock(table->mutex);
      const auto it = table->objects.find(ObjectKey{node, serial});
      if (it == table->objects.end() || it->second.freed)
        throw ObjectFreed(what + "." + call + ": " + object_text(node, serial) + " was already freed");
      if (it->second.owner_rank != kAnyRankOfTheNode && call == std::string_view("free") &&
          it->second.owner_rank != ctx->world.rank())
        throw InvalidArgument(what + ".free: " + object_text(node, serial) + " was put by world rank " +
                              std::to_string(it->second.owner_rank) + "; only that rank can free it");
      it->second.freed = true;
      file = release_if_unused(it);
    }
    if (file) files.remove(serial);
  }

  /// After the owner freed `ref`: every other node drops its copy; returns once they
  /// all have.
  void drop_copies(const RefData& ref) const {
    if (!transport) return;
    ObjectArgs args{ref.serial};
    args.owner = ref.node;
    for (int n = 0; n < ctx->node_count; ++n)
      if (n != ref.node) transport->post(n, Ask::with(id, StoreOp::drop, args));
    transport->flush();
  }

  /// Room for `bytes` from the heap, evicting unpinned copies of other nodes' objects
  /// (least recently used first) while it has none; null if that is not enough. Needs
  /// the mutex.
  std::byte* take_room_locked(std::size_t bytes) {
    if (std::byte* p = arena.allocate(bytes)) return p;
    std::vector<ObjectMap::iterator> copies;
    for (auto it = table->objects.begin(); it != table->objects.end(); ++it)
      if (it->first.node != node && it->second.pins == 0 && !it->second.fetching && !it->second.adopted)
        copies.push_back(it);
    std::sort(copies.begin(), copies.end(), [](auto a, auto b) { return a->second.last_use < b->second.last_use; });
    for (auto it : copies) {
      arena.deallocate(arena.address(it->second.handle));
      table->objects.erase(it);
      ++table->evictions;
      if (std::byte* p = arena.allocate(bytes)) return p;
    }
    return nullptr;
  }

  /// An object of the node's own being written to its file.
  struct Victim {
    ObjectKey key;
    std::uint64_t handle;
    std::uint64_t bytes;
  };

  /// Takes the coldest unpinned resident objects of the node's own, together at least
  /// `bytes`: those whose file is written already go to it at once (their room is
  /// free on return; `dropped` counts them), the others are marked spilling and
  /// returned, for spill(). Needs the mutex.
  std::vector<Victim> choose_victims_locked(std::size_t bytes, std::size_t& dropped) {
    std::vector<ObjectMap::iterator> own;
    for (auto it = table->objects.begin(); it != table->objects.end(); ++it) {
      const ObjectEntry& e = it->second;
      if (it->first.node == node && e.place == Place::resident && e.pins == 0 && !e.freed && !e.adopted &&
          e.bytes > 0)
        own.push_back(it);
    }
    std::sort(own.begin(), own.end(), [](auto a, auto b) { return a->second.last_use < b->second.last_use; });
    std::vector<Victim> victims;
    std::size_t freed = 0;
    for (auto it : own) {
      if (freed >= bytes) break;
      ObjectEntry& e = it->second;
      freed += e.bytes;
      if (e.on_disk) {
        arena.deallocate(arena.address(e.handle));
        e.handle = 0;
        e.place = Place::spilled;
        ++table->spills;
        ++dropped;
        continue;
      }
      e.place = Place::spilling;
      victims.push_back({it->first, e.handle, e.bytes});
    }
    return victims;
  }

  /// Writes the victims to their files (no lock held), then, under the lock, frees
  /// the room of each that no rank pinned meanwhile; a pinned one stays resident (its
  /// file kept). An error (a full disk) leaves every victim resident and is thrown.
  void spill(const std::vector<Victim>& victims) {
    std::size_t written = 0;
    std::exception_ptr error;
    try {
      for (; written < victims.size(); ++written) {
        const Victim& v = victims[written];
        files.write(v.key.serial, arena.address(v.handle), v.bytes);
      }
    } catch (...) {
      error = std::current_exception();
    }
    std::vector<std::uint64_t> unused_files;
    {
      const Lock lock(table->mutex);
      for (std::size_t i = 0; i < victims.size(); ++i) {
        const auto it = table->objects.find(victims[i].key);
        ObjectEntry& e = it->second;
        e.on_disk = i < written;
        if (e.on_disk && !error && e.pins == 0) {
          arena.deallocate(arena.address(e.handle));
          e.handle = 0;
          e.place = Place::spilled;
          ++table->spills;
        } else {
          e.place = Place::resident;
          if (i == written) unused_files.push_back(victims[i].key.serial);  // cut short by the error
        }
        if (release_if_unused(it)) unused_files.push_back(victims[i].key.serial);
      }
    }
    for (const std::uint64_t serial : unused_files) files.remove(serial);
    if (error) std::rethrow_exception(error);
  }

  /// Room for `bytes` in the arena: free room, else room of evicted copies, else room
  /// of the node's own objects spilled to disk (coldest first). Takes the mutex itself
  /// and holds it across no file I/O. OutOfMemory when nothing more can be evicted or
  /// spilled and the room is still not there.
  std::byte* make_room(std::size_t bytes, const char* call) {
    if (bytes > arena.capacity()) throw out_of_memory(bytes, call, "it is larger than the arena itself");
    for (auto pause = std::chrono::microseconds(1);; pause = std::min(2 * pause, std::chrono::microseconds(1000))) {
      std::vector<Victim> victims;
      {
        const Lock lock(table->mutex);
        if (std::byte* p = take_room_locked(bytes)) return p;
        std::size_t dropped = 0;
        victims = choose_victims_locked(bytes, dropped);
        if (dropped != 0 && victims.empty()) continue;  // room given back without writing
        if (victims.empty()) {
          // Nothing left to spill: only a spill in progress (another rank's) can still
          // make room.
          const bool spilling = std::any_of(table->objects.begin(), table->objects.end(),
                                            [](const auto& kv) { return kv.second.place == Place::spilling; });
          if (!spilling) throw out_of_memory(bytes, call, {});
        }
      }
      if (victims.empty())
        std::this_thread::sleep_for(pause);
      else
        spill(victims);
    }
  }

  /// The arena cannot hold `bytes`: because `why`, or (with `why` empty) because what
  /// is in it is in use; says what to do. Needs the mutex when `why` is empty.
  OutOfMemory out_of_memory(std::size_t bytes, const char* call, const std::string& why) const {
    std::string text = what + "." + call + ": node " + std::to_string(node) + "'s arena cannot hold " +
                       std::to_string(bytes) + " bytes";
    if (!why.empty()) return OutOfMemory(text + ": " + why + " (" + std::to_string(arena.capacity()) +
                                         " bytes; make the store larger: LAGOON_STORE_BYTES)");
    std::size_t owned = 0;
    std::size_t owned_pinned = 0;
    std::size_t pinned = 0;
    std::size_t pinned_bytes = 0;
    for (const auto& [key, e] : table->objects) {
      if (key.node == node && !e.freed) ++owned;
      if (e.pins != 0 || e.fetching) {
        (key.node == node ? owned_pinned : pinned) += 1;
        if (!e.adopted) pinned_bytes += e.bytes;
      }
    }
    return OutOfMemory(text + " even after evicting every unused copy and spilling every unused object of its own to " +
                       files.dir() + ": " + std::to_string(arena.free_bytes()) + " bytes free of " +
                       std::to_string(arena.capacity()) +
                       (arena.free_bytes() >= bytes
                            ? std::string(" (enough in all, but in pieces: objects in use and the table's own rows "
                                          "split the free room, and no piece holds the object)")
                            : std::string()) +
                       ", " + std::to_string(owned_pinned + pinned) +
                       " objects in use by views or transfers (" + std::to_string(pinned_bytes) + " bytes; " +
                       std::to_string(owned) +
                       " objects of its own in all); let views go, free objects or make the store larger: "
                       "LAGOON_STORE_BYTES");
  }

  /// Pins this node's own object `key` for a reader (a view here, or a fetch's answer),
  /// restoring it from its file first if it was spilled; returns its bytes.
  /// InvalidArgument for an object that never existed, ObjectFreed, TypeMismatch.
  std::byte* pin_own(const ObjectKey& key, std::uint64_t tag, std::string_view type, std::uint64_t bytes,
                     const char* call) {
    for (auto pause = std::chrono::microseconds(1);; pause = std::min(2 * pause, std::chrono::microseconds(1000))) {
      {
        const Lock lock(table->mutex);
        const auto it = table->objects.find(key);
        if (it == table->objects.end()) {
          if (key.serial == 0 || key.serial > table->next_serial)
            throw InvalidArgument(what + "." + call + ": no " + object_text(key.node, key.serial) + " (a corrupt ref?)");
          throw ObjectFreed(what + "." + call + ": " + object_text(key.node, key.serial) + " was freed");
        }
        ObjectEntry& e = it->second;
        check_entry(e, key, tag, type, bytes);
        if (e.place == Place::resident || e.place == Place::spilling) {
          ++e.pins;
          e.last_use = ++table->clock;
          return bytes_of(key, e);
        }
        if (e.place == Place::spilled) {
          e.place = Place::restoring;
          break;
        }
      }
      std::this_thread::sleep_for(pause);  // another rank restores it
    }
    // This rank restores it: room (which may spill colder objects), then its file.
    std::byte* room = nullptr;
    std::exception_ptr error;
    try {
      room = make_room(static_cast<std::size_t>(bytes), call);
      files.read(key.serial, room, static_cast<std::size_t>(bytes));
    } catch (...) {
      error = std::current_exception();
    }
    bool remove_file = false;
    {
      const Lock lock(table->mutex);
      const auto it = table->objects.find(key);
      ObjectEntry& e = it->second;
      if (error) {
        if (room) arena.deallocate(room);
        e.place = Place::spilled;
        remove_file = release_if_unused(it);
      } else {
        e.handle = arena.handle(room);
        e.place = Place::resident;  // its file stays: spilling it again writes nothing
        ++e.pins;
        e.last_use = ++table->clock;
        ++table->restores;
      }
    }
    if (remove_file) files.remove(key.serial);
    if (error) std::rethrow_exception(error);
    return room;
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
        if (e.place == Place::spilled || e.place == Place::restoring) {
          ++s.spilled_objects;
          s.spilled_bytes += e.bytes;
        }
      } else {
        ++s.cached;
        s.cached_bytes += e.bytes;
      }
    }
    s.fetches = table->fetches;
    s.cache_hits = table->cache_hits;
    s.evictions = table->evictions;
    s.spills = table->spills;
    s.restores = table->restores;
    return s;
  }

  /// Checks a live entry against what the reader asks; throws ObjectFreed or TypeMismatch.
  void check_entry(const ObjectEntry& e, const ObjectKey& key, std::uint64_t tag, std::string_view type,
                   std::uint64_t bytes) const {
    if (e.freed) throw ObjectFreed(what + ".get: " + object_text(key.node, key.serial) + " was freed");
    if (e.tag != tag)
      throw TypeMismatch(what + ".get: " + object_text(key.node, key.serial) + " holds " + entry_type(e) + ", not " +
                         std::string(type));
    if (e.bytes != bytes)
      throw InvalidArgument(what + ".get: the ref says " + std::to_string(bytes) + " bytes, but " +
                            object_text(key.node, key.serial) + " has " + std::to_string(e.bytes) +
                            " (a corrupt ref?)");
  }

  StoreTable* table = nullptr;
  SpillFiles files;
  bool alive = true;  ///< false once the store is destroyed: views that outlive it no longer unpin
};

void StoreState::serve(const Request& request, Transport& t) {
  switch (static_cast<StoreOp>(request.header.op)) {
    case StoreOp::fetch: {
      const auto args = request.args_as<ObjectArgs>();
      const ObjectKey key{node, args.serial};
      // Pinned (restored first if it was spilled): the bytes stay while they go out.
      const std::byte* data = pin_own(key, args.tag, "the type the ref was made for", args.bytes, "get");
      struct Unpin {
        StoreState& s;
        ObjectKey key;
        ~Unpin() {
          bool file = false;
          {
            const Lock lock(s.table->mutex);
            if (auto it = s.table->objects.find(key); it != s.table->objects.end()) {
              --it->second.pins;
              file = s.release_if_unused(it);
            }
          }
          if (file) s.files.remove(key.serial);
        }
      } unpin{*this, key};
      t.answer(request, {data, static_cast<std::size_t>(args.bytes)});
      return;
    }
    case StoreOp::drop: {
      // The owner freed an object: drop this node's copy (its bytes go once no view
      // reads them).
      const auto args = request.args_as<ObjectArgs>();
      if (args.owner < 0 || args.owner >= ctx->node_count) throw TransportError(what + ": a malformed drop");
      const ObjectKey copy{args.owner, args.serial};
      const Lock lock(table->mutex);
      if (auto it = table->objects.find(copy); it != table->objects.end()) {
        it->second.freed = true;
        release_if_unused(it);
      }
      return;
    }
    case StoreOp::release: {
      const auto args = request.args_as<ObjectArgs>();
      mark_freed(args.serial, "release");
      t.answer(request, {});
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
  throw TransportError(what + ": an unknown request (" + std::to_string(request.header.op) + ")");
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
  if (!state->alive || state->ctx->finalized()) return;
  bool file = false;
  {
    const Lock lock(state->table->mutex);
    if (auto it = state->table->objects.find(ObjectKey{ref_.node, ref_.serial}); it != state->table->objects.end()) {
      --it->second.pins;
      file = state->release_if_unused(it);
    }
  }
  if (file) state->files.remove(ref_.serial);
}

// ---- StoreCore ----

std::size_t StoreCore::default_capacity() {
  constexpr std::size_t kDefault = std::size_t{1} << 30;
  const std::size_t eighth = available_memory() / 8 / (1u << 20) * (1u << 20);
  return eighth > 0 ? std::min(kDefault, eighth) : kDefault;
}

namespace {

/// The live stores of a Runtime, in the order they were made (the same on every rank),
/// for lagoon::report.
struct StoreRegistry {
  std::vector<StoreState*> stores;
  static StoreRegistry& of(Context& ctx) {
    static const char key = 0;
    auto& slot = ctx.slot(&key);
    if (!slot) slot = std::make_shared<StoreRegistry>();
    return *static_cast<StoreRegistry*>(slot.get());
  }
  void remove(StoreState* s) { std::erase(stores, s); }
};

}  // namespace

StoreCore::StoreCore(const Runtime& rt, std::size_t bytes) : state_(std::make_shared<StoreState>()) {
  auto& s = *state_;
  s.what = "lagoon::ObjectStore";
  s.open_arena(rt, bytes, context_of(rt)->settings.store_bytes, default_capacity(), "LAGOON_STORE_BYTES",
               [](Heap& heap) {
                 heap.construct<StoreTable>(kTableName)(
                     HeapAllocator<std::pair<const ObjectKey, ObjectEntry>>(heap.get_segment_manager()));
               });
  s.table = s.arena.heap().find<StoreTable>(kTableName).first;
  // The node's spill directory is named by its leader's process; the leader first
  // removes what killed jobs' stores left on this host.
  long leader_pid = ::getpid();
  mpi::bcast_value(leader_pid, 0, s.ctx->node);
  const std::string host = mpi::processor_name();
  if (s.ctx->node.rank() == 0) SpillFiles::remove_leftovers(s.ctx->settings.spill_dir, host);
  s.files = SpillFiles(s.ctx->settings.spill_dir, host, leader_pid, s.id);
  s.open();  // last: other nodes may ask at once
  StoreRegistry::of(*s.ctx).stores.push_back(&s);
}

namespace {

/// Ends a store: no rank asks it any more, its arena and adopted windows go (in the same
/// order on every rank), and the node leader removes its spill files.
void end_store(StoreState& s) noexcept {
  StoreRegistry::of(*s.ctx).remove(&s);
  s.close_arena();
  s.adopted.clear();
  s.alive = false;
  if (s.ctx->node.rank() == 0) s.files.remove_all();
}

}  // namespace

StoreCore::~StoreCore() {
  if (state_) end_store(*state_);
}

StoreCore& StoreCore::operator=(StoreCore&& other) noexcept {
  if (this != &other) {
    if (state_) end_store(*state_);
    state_ = std::move(other.state_);
  }
  return *this;
}

StoreState& StoreCore::state(const char* call) const {
  if (!state_) throw InvalidArgument(std::string("lagoon::ObjectStore.") + call + ": used after it was moved from");
  state_->arena.segment().check_alive();
  return *state_;
}

RefData StoreCore::put(std::uint64_t tag, std::string_view type, std::span<const std::byte> bytes) {
  auto& s = state("put");
  RefData ref{s.id, s.node, 0, bytes.size(), tag};
  std::byte* at = s.make_room(bytes.size(), "put");
  {
    const Lock lock(s.table->mutex);
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
    throw OutOfMemory(s.what + ".put: node " + std::to_string(s.node) + "'s arena has no room left for its table");
  }
  return ref;
}

std::byte* StoreCore::create(std::size_t bytes) {
  auto& s = state("create");
  std::uint64_t handle = 0;
  agree(s.ctx->node, [&] {
    if (s.ctx->node.rank() != 0) return;
    handle = s.arena.handle(s.make_room(bytes, "create"));
  });
  mpi::bcast_value(handle, 0, s.ctx->node);
  return s.arena.address(handle);
}

RefData StoreCore::seal(std::byte* at, std::size_t bytes, std::uint64_t tag, std::string_view type) {
  auto& s = state("seal");
  s.arena.segment().fence();  // every rank's writes, before the object exists
  RefData ref{s.id, s.node, 0, bytes, tag};
  agree(s.ctx->node, [&] {
    if (s.ctx->node.rank() != 0) return;
    ObjectEntry e = s.node_made_entry(bytes, tag, type);
    e.handle = s.arena.handle(at);
    const Lock lock(s.table->mutex);
    ref.serial = ++s.table->next_serial;
    s.enter_locked(ObjectKey{s.node, ref.serial}, e, "seal");
  });
  mpi::bcast_value(ref.serial, 0, s.ctx->node);
  return ref;
}

RefData StoreCore::adopt(Replica replica, std::size_t bytes, std::uint64_t tag, std::string_view type) {
  auto& s = state("adopt");
  const int owner = s.ctx->node_of_rank[0];
  RefData ref{s.id, owner, 0, 0, tag};
  agree(s.ctx->world, [&] {
    replica.check();
    if (s.ctx->world.rank() != 0) return;
    const Lock lock(s.table->mutex);
    ref.serial = ++s.table->next_serial;
  });
  mpi::bcast_value(ref.serial, 0, s.ctx->world);
  ref.bytes = bytes;
  // Every node's copy becomes the object's copy there: owned on the owner node, a ready
  // copy (never fetched, never evicted) on the others.
  agree(s.ctx->world, [&] {
    if (s.ctx->node.rank() != 0) return;
    ObjectEntry e = s.node_made_entry(bytes, tag, type);
    e.adopted = true;
    const Lock lock(s.table->mutex);
    s.enter_locked(ObjectKey{owner, ref.serial}, e, "adopt");
  });
  s.adopted.emplace(ref.serial, std::move(replica));
  return ref;
}

void StoreCore::discard(std::byte* at) noexcept {
  if (!state_ || !state_->alive || state_->ctx->finalized()) return;
  auto& s = *state_;
  try {
    s.arena.segment().fence();  // no rank of the node writes any more
    if (s.ctx->node.rank() == 0) {
      const Lock lock(s.table->mutex);
      s.arena.deallocate(at);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lagoon: %s: an unsealed writer's room was not freed: %s\n", s.what.c_str(), e.what());
  }
}

Pin StoreCore::pin(const RefData& ref, std::uint64_t tag, std::string_view type) const {
  auto& s = state("get");
  if (ref.store == 0) throw InvalidArgument(s.what + ".get: an empty ObjectRef");
  if (ref.store != s.id || ref.node < 0 || ref.node >= s.ctx->node_count)
    throw InvalidArgument(s.what + ".get: the ref belongs to another store (or is corrupt)");
  if (ref.tag != tag)
    throw TypeMismatch(s.what + ".get: the ref was made for another type than " + std::string(type));
  Pin pin;
  pin.ref_ = ref;
  pin.owned_here_ = ref.node == s.node;
  const ObjectKey key{ref.node, ref.serial};

  if (ref.node == s.node) {
    pin.data_ = s.pin_own(key, tag, type, ref.bytes, "get");
    pin.bytes_ = ref.bytes;
    pin.state_ = state_;
    return pin;
  }

  // Another node's object: read this node's copy, wait for the rank bringing it over,
  // or bring it over.
  std::byte* at = nullptr;  // room for the copy, made before the entry (making it may spill)
  for (auto pause = std::chrono::microseconds(1);; pause = std::min(2 * pause, std::chrono::microseconds(1000))) {
    bool need_room = false;
    {
      const Lock lock(s.table->mutex);
      const auto it = s.table->objects.find(key);
      if (it != s.table->objects.end() && at != nullptr) {
        s.arena.deallocate(at);  // another rank began the copy meanwhile
        at = nullptr;
      }
      if (it == s.table->objects.end() && at == nullptr) {
        need_room = true;  // made below, without the mutex
      } else if (it == s.table->objects.end()) {
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
                            "'s arena has no room left for its table");
        }
        ++s.table->fetches;
        break;
      }
      if (!need_room && !it->second.fetching) {
        s.check_entry(it->second, key, tag, type, ref.bytes);
        ++it->second.pins;
        it->second.last_use = ++s.table->clock;
        ++s.table->cache_hits;
        pin.data_ = s.bytes_of(key, it->second);
        pin.bytes_ = ref.bytes;
        pin.state_ = state_;
        return pin;
      }
    }
    if (need_room) {
      at = s.make_room(static_cast<std::size_t>(ref.bytes), "get");
      continue;
    }
    std::this_thread::sleep_for(pause);  // another rank of the node is bringing it over
  }

  // This rank brings it over, straight into the arena.
  std::exception_ptr error;
  try {
    const ObjectArgs args{ref.serial, ref.tag, ref.bytes};
    s.transport->call(ref.node, Ask::with(s.id, StoreOp::fetch, args), std::span<std::byte>(at, ref.bytes),
                      What{s.what, "get (fetch)"});
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
    throw ObjectFreed(s.what + ".get: " + object_text(ref.node, ref.serial) + " was freed");
  }
  pin.data_ = at;
  pin.bytes_ = ref.bytes;
  pin.fetched_ = true;
  pin.state_ = state_;
  return pin;
}

void StoreCore::free(const RefData& ref) {
  auto& s = state("free");
  if (ref.store == 0) throw InvalidArgument(s.what + ".free: an empty ObjectRef");
  if (ref.store != s.id) throw InvalidArgument(s.what + ".free: the ref belongs to another store");
  if (ref.node != s.node)
    throw InvalidArgument(s.what + ".free: " + object_text(ref.node, ref.serial) +
                          " belongs to another node; only the rank that put it can free it");
  s.mark_freed(ref.serial, "free");
  s.drop_copies(ref);
}

void StoreCore::release(const RefData& ref) {
  auto& s = state("release");
  if (ref.store != s.id) throw InvalidArgument(s.what + ".release: the ref belongs to another store");
  if (ref.node == s.node) {
    s.mark_freed(ref.serial, "release");
  } else {
    const ObjectArgs args{ref.serial};
    (void)s.transport->call(ref.node, Ask::with(s.id, StoreOp::release, args), s.what + ".release");
  }
  s.drop_copies(ref);
}

StoreStats StoreCore::local_stats() const {
  const auto& s = state("local_stats");
  const Lock lock(s.table->mutex);
  return s.stats_locked();
}

std::vector<StoreStats> StoreCore::stats() const {
  const auto& s = state("stats");
  std::vector<StoreStats> all;
  s.each_node([&] { all.push_back(local_stats()); },
              [&](int n) {
                all.emplace_back();
                s.transport->call(n, Ask{s.id, static_cast<std::uint32_t>(StoreOp::stats), {}, {}},
                                  std::as_writable_bytes(std::span<StoreStats, 1>(&all.back(), 1)), s.what + ".stats");
              });
  return all;
}

std::size_t StoreCore::capacity() const noexcept { return state_ ? state_->arena.capacity() : 0; }
bool StoreCore::in_arena(const void* p) const noexcept { return state_ && state_->arena.contains(p); }

std::string StoreCore::describe() const {
  const auto& s = state("describe");
  const StoreStats st = local_stats();
  return s.what + ": an arena of " + format_bytes(static_cast<double>(s.arena.capacity())) + " per node (from " +
         s.capacity_source + "; default " + format_bytes(static_cast<double>(default_capacity())) +
         ", set LAGOON_STORE_BYTES to change it) on " + std::to_string(s.ctx->node_count) + " node(s); node " +
         std::to_string(s.node) + ": " + format_bytes(static_cast<double>(st.used)) + " used, " +
         std::to_string(st.objects) + " objects (" + std::to_string(st.spilled_objects) + " spilled to " +
         s.files.dir() + "), " + std::to_string(st.cached) + " cached copies";
}

}  // namespace lagoon::detail

namespace lagoon {

std::string report(const Runtime& rt) {
  using detail::StoreRegistry;
  auto& ctx = *detail::context_of(rt);
  ctx.check_alive("lagoon::report");
  const auto& stores = StoreRegistry::of(ctx).stores;
  // One record per rank: its node, its PSS, its host and, from node leaders, each
  // store's stats on the node. Gathered everywhere (a few hundred bytes per rank).
  struct Head {
    std::int64_t node;
    std::uint64_t pss;
    std::uint64_t leader;
    char host[64];
  };
  const std::size_t record = sizeof(Head) + stores.size() * sizeof(StoreStats);
  std::vector<std::byte> mine(record), all(record * static_cast<std::size_t>(rt.size()));
  Head head{rt.node(), memory_usage().pss, rt.is_node_leader() ? 1u : 0u, {}};
  const std::string host = mpi::processor_name();
  std::memcpy(head.host, host.data(), std::min(host.size(), sizeof head.host - 1));
  std::memcpy(mine.data(), &head, sizeof head);
  if (rt.is_node_leader())
    for (std::size_t i = 0; i < stores.size(); ++i) {
      const detail::Lock lock(stores[i]->table->mutex);
      const StoreStats stats = stores[i]->stats_locked();
      std::memcpy(mine.data() + sizeof(Head) + i * sizeof(StoreStats), &stats, sizeof stats);
    }
  mpi::allgather_bytes(mine.data(), record, all.data(), rt.world());
  if (rt.rank() != 0) return {};
  std::string text;
  for (int node = 0; node < rt.node_count(); ++node) {
    std::uint64_t pss = 0;
    int ranks = 0;
    const std::byte* leader = nullptr;
    for (int r = 0; r < rt.size(); ++r) {
      Head h{};
      const std::byte* at = all.data() + static_cast<std::size_t>(r) * record;
      std::memcpy(&h, at, sizeof h);
      if (h.node != node) continue;
      pss += h.pss;
      ++ranks;
      if (h.leader) leader = at;
    }
    if (!leader) continue;
    Head h{};
    std::memcpy(&h, leader, sizeof h);
    text += "lagoon report: node " + std::to_string(node) + " (" + h.host + ", " + std::to_string(ranks) +
            (ranks == 1 ? " rank" : " ranks") + "): PSS " + format_bytes(static_cast<double>(pss));
    for (std::size_t i = 0; i < stores.size(); ++i) {
      StoreStats st;
      std::memcpy(&st, leader + sizeof(Head) + i * sizeof(StoreStats), sizeof st);
      text += " | store " + std::to_string(i + 1) + ": arena " + format_bytes(static_cast<double>(st.capacity)) +
              ", used " + format_bytes(static_cast<double>(st.used)) + ", " + std::to_string(st.objects) +
              (st.objects == 1 ? " object (" : " objects (") + format_bytes(static_cast<double>(st.object_bytes)) +
              "), spilled " + format_bytes(static_cast<double>(st.spilled_bytes)) + " (" +
              std::to_string(st.spilled_objects) + (st.spilled_objects == 1 ? " object), " : " objects), ") +
              std::to_string(st.restores) + " restores, " + std::to_string(st.cached) + " cached, " +
              std::to_string(st.fetches) + " fetches, " + std::to_string(st.evictions) + " evictions";
    }
    text += "\n";
  }
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  return text;
}

}  // namespace lagoon
