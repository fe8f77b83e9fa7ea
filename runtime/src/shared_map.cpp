// SharedMap's core: each node's part of the map, a Boost.Interprocess map from key
// archives to value archives in the node's arena, guarded by one process-shared
// mutex (held only to copy bytes in or out, never across MPI or a user's code).
// Versions come from one counter per node, so a key erased and set again never
// shows an old version: compare_and_set cannot be fooled (no ABA).
#include <boost/container/string.hpp>
#include <boost/interprocess/containers/map.hpp>
#include <boost/interprocess/containers/string.hpp>
#include <cstring>
#include <mutex>
#include <string_view>

#include "arena.hpp"
#include "context.hpp"
#include "lagoon/detail/agree.hpp"
#include "lagoon/detail/map_core.hpp"
#include "lagoon/error.hpp"
#include "transport.hpp"

namespace lagoon::detail {
namespace {

using Lock = std::lock_guard<bip::interprocess_mutex>;
using Bytes = bip::basic_string<char, std::char_traits<char>, HeapAllocator<char>>;

std::string_view view(const Bytes& b) { return {b.data(), b.size()}; }
std::string_view view(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
std::string_view view(std::string_view s) { return s; }

struct BytesLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return view(a) < view(b);
  }
};

struct Slot {
  explicit Slot(const HeapAllocator<char>& a) : value(a) {}
  Bytes value;
  std::uint64_t version = 0;
};

using Entries = bip::map<Bytes, Slot, BytesLess, HeapAllocator<std::pair<const Bytes, Slot>>>;

struct MapTable {
  explicit MapTable(const HeapAllocator<char>& a) : entries(a) {}
  bip::interprocess_mutex mutex;
  std::uint64_t next_version = 0;
  Entries entries;
};

enum class MapOp : std::uint32_t { get = 1, contains, set, erase, compare_and_set, size };

constexpr const char* kTableName = "lagoon.map";
constexpr std::size_t kDefaultBytes = std::size_t{64} << 20;

/// A request's payload: the key's length, the key, the value.
std::vector<std::byte> pack(std::span<const std::byte> key, std::span<const std::byte> value) {
  std::vector<std::byte> out(sizeof(std::uint64_t) + key.size() + value.size());
  const std::uint64_t n = key.size();
  std::memcpy(out.data(), &n, sizeof n);
  if (!key.empty()) std::memcpy(out.data() + sizeof n, key.data(), key.size());
  if (!value.empty()) std::memcpy(out.data() + sizeof n + key.size(), value.data(), value.size());
  return out;
}

/// An answer carrying a value: present, version, bytes.
std::vector<std::byte> pack_value(const MapValue& v, std::uint8_t flag = 0) {
  std::vector<std::byte> out(2 + sizeof v.version + v.bytes.size());
  out[0] = static_cast<std::byte>(flag);
  out[1] = static_cast<std::byte>(v.present ? 1 : 0);
  std::memcpy(out.data() + 2, &v.version, sizeof v.version);
  if (!v.bytes.empty()) std::memcpy(out.data() + 2 + sizeof v.version, v.bytes.data(), v.bytes.size());
  return out;
}

std::uint8_t unpack_value(const std::vector<std::byte>& in, MapValue& v, const std::string& what) {
  if (in.size() < 2 + sizeof v.version) throw Error(what + ": a malformed answer" + on_rank());
  v.present = in[1] != std::byte{0};
  std::memcpy(&v.version, in.data() + 2, sizeof v.version);
  v.bytes.assign(in.begin() + 2 + sizeof v.version, in.end());
  return static_cast<std::uint8_t>(in[0]);
}

}  // namespace

class MapState final : public Handler {
 public:
  void serve(const Request& request, Transport& t) override {
    std::vector<std::byte> payload(request.header.bytes);
    t.receive_payload(request, std::span<std::byte>(payload));
    std::uint64_t key_bytes = 0;
    if (payload.size() < sizeof key_bytes) throw Error(what + ": a malformed request");
    std::memcpy(&key_bytes, payload.data(), sizeof key_bytes);
    if (key_bytes > payload.size() - sizeof key_bytes) throw Error(what + ": a malformed request");
    const auto key = std::span<const std::byte>(payload).subspan(sizeof key_bytes, key_bytes);
    const auto value = std::span<const std::byte>(payload).subspan(sizeof key_bytes + key_bytes);
    switch (static_cast<MapOp>(request.header.kind)) {
      case MapOp::get:
      case MapOp::contains:
        t.answer(request, pack_value(read(key, static_cast<MapOp>(request.header.kind) == MapOp::get)));
        return;
      case MapOp::set:
        write(key, value);
        t.answer(request, {});
        return;
      case MapOp::erase: {
        const std::byte erased{static_cast<unsigned char>(remove(key) ? 1 : 0)};
        t.answer(request, std::span<const std::byte>(&erased, 1));
        return;
      }
      case MapOp::compare_and_set: {
        MapValue current;
        const bool done = swap(key, request.header.offset, value, current);
        t.answer(request, pack_value(current, done ? 1 : 0));
        return;
      }
      case MapOp::size: {
        const std::uint64_t n = count();
        t.answer(request, std::as_bytes(std::span<const std::uint64_t, 1>(&n, 1)));
        return;
      }
    }
    throw Error(what + ": an unknown request (" + std::to_string(request.header.kind) + ")");
  }

  // ---- this node's part, in shared memory ----

  MapValue read(std::span<const std::byte> key, bool with_value) const {
    MapValue v;
    const Lock lock(table->mutex);
    const auto it = table->entries.find(view(key));
    if (it == table->entries.end()) return v;
    v.present = true;
    v.version = it->second.version;
    if (with_value) {
      const auto* data = reinterpret_cast<const std::byte*>(it->second.value.data());
      v.bytes.assign(data, data + it->second.value.size());
    }
    return v;
  }

  void write(std::span<const std::byte> key, std::span<const std::byte> value) {
    const Lock lock(table->mutex);
    write_locked(key, value);
  }

  /// Needs the mutex.
  void write_locked(std::span<const std::byte> key, std::span<const std::byte> value) {
    auto it = table->entries.end();
    bool inserted = false;
    try {
      it = table->entries.find(view(key));
      if (it == table->entries.end()) {
        HeapAllocator<char> a(arena.heap().get_segment_manager());
        it = table->entries.emplace(Bytes(view(key).data(), key.size(), a), Slot(a)).first;
        inserted = true;
      }
      it->second.value.assign(reinterpret_cast<const char*>(value.data()), value.size());
      it->second.version = ++table->next_version;
    } catch (const std::exception&) {          // bip::bad_alloc, or length_error past the arena's size
      if (inserted) table->entries.erase(it);  // a failed set leaves no key behind
      throw OutOfMemory(what + ": node " + std::to_string(node) + "'s arena cannot hold a value of " +
                        std::to_string(value.size()) + " bytes (key of " + std::to_string(key.size()) +
                        "): " + std::to_string(arena.free_bytes()) + " bytes free of " +
                        std::to_string(arena.capacity()) + " (make the map larger: LAGOON_MAP_BYTES)" + on_rank());
    }
  }

  bool remove(std::span<const std::byte> key) {
    const Lock lock(table->mutex);
    const auto it = table->entries.find(view(key));
    if (it == table->entries.end()) return false;
    table->entries.erase(it);
    return true;
  }

  bool swap(std::span<const std::byte> key, std::uint64_t expected, std::span<const std::byte> value,
            MapValue& current) {
    const Lock lock(table->mutex);
    const auto it = table->entries.find(view(key));
    const std::uint64_t version = it == table->entries.end() ? 0 : it->second.version;
    if (version == expected) {
      write_locked(key, value);
      return true;
    }
    current = MapValue{};
    if (it != table->entries.end()) {
      current.present = true;
      current.version = version;
      const auto* data = reinterpret_cast<const std::byte*>(it->second.value.data());
      current.bytes.assign(data, data + it->second.value.size());
    }
    return false;
  }

  std::size_t count() const {
    const Lock lock(table->mutex);
    return table->entries.size();
  }

  /// The answer of a request to `owner`'s service.
  std::vector<std::byte> ask(int owner, MapOp op, std::span<const std::byte> key, std::span<const std::byte> value,
                             std::uint64_t expected = 0) const {
    Header header{Op::call, id};
    header.kind = static_cast<std::uint32_t>(op);
    header.offset = expected;
    return transport->call(owner, header, pack(key, value), what);
  }

  std::shared_ptr<Context> ctx;
  Arena arena;
  MapTable* table = nullptr;
  Transport* transport = nullptr;
  std::uint32_t id = 0;
  int node = 0;
  std::string what;
};

MapCore::MapCore(const Runtime& rt, std::size_t bytes, std::string what) : state_(std::make_shared<MapState>()) {
  auto& s = *state_;
  s.ctx = rt.context();
  s.what = std::move(what);
  s.ctx->check_alive(s.what.c_str());
  const SameOnAllRanks same = arena_agreement(bytes, s.what);
  agree(
      s.ctx->world, [] {}, &same);
  if (bytes == 0) bytes = s.ctx->settings.map_bytes != 0 ? s.ctx->settings.map_bytes : kDefaultBytes;
  s.node = rt.node();
  s.arena = Arena(rt, bytes, s.what, [](Heap& heap) {
    heap.construct<MapTable>(kTableName)(HeapAllocator<char>(heap.get_segment_manager()));
  });
  s.table = s.arena.heap().find<MapTable>(kTableName).first;
  s.transport = serve_object(*s.ctx, s, s.id);
}

MapCore::~MapCore() {
  auto& s = *state_;
  stop_serving(*s.ctx, s.transport, s.id, s.what);
  if (!s.ctx->finalized()) s.arena.release();
}

int MapCore::owner(std::span<const std::byte> key) const {
  return static_cast<int>(fingerprint(key.data(), key.size()) % static_cast<std::uint64_t>(state_->ctx->node_count));
}

MapValue MapCore::get(std::span<const std::byte> key, bool with_value) const {
  auto& s = *state_;
  s.arena.segment().check_alive();
  const int n = owner(key);
  if (n == s.node) return s.read(key, with_value);
  MapValue v;
  unpack_value(s.ask(n, with_value ? MapOp::get : MapOp::contains, key, {}), v, s.what);
  return v;
}

void MapCore::set(std::span<const std::byte> key, std::span<const std::byte> value) {
  auto& s = *state_;
  s.arena.segment().check_alive();
  const int n = owner(key);
  if (n == s.node) return s.write(key, value);
  (void)s.ask(n, MapOp::set, key, value);
}

bool MapCore::erase(std::span<const std::byte> key) {
  auto& s = *state_;
  s.arena.segment().check_alive();
  const int n = owner(key);
  if (n == s.node) return s.remove(key);
  const auto answer = s.ask(n, MapOp::erase, key, {});
  return !answer.empty() && answer[0] != std::byte{0};
}

bool MapCore::compare_and_set(std::span<const std::byte> key, std::uint64_t expected, std::span<const std::byte> value,
                              MapValue& current) {
  auto& s = *state_;
  s.arena.segment().check_alive();
  const int n = owner(key);
  if (n == s.node) return s.swap(key, expected, value, current);
  return unpack_value(s.ask(n, MapOp::compare_and_set, key, value, expected), current, s.what) != 0;
}

std::size_t MapCore::size() const {
  auto& s = *state_;
  s.arena.segment().check_alive();
  std::size_t total = 0;
  for (int n = 0; n < s.ctx->node_count; ++n) {
    if (n == s.node) {
      total += s.count();
      continue;
    }
    const auto answer = s.ask(n, MapOp::size, {}, {});
    std::uint64_t count = 0;
    if (answer.size() != sizeof count) throw Error(s.what + ".size: a malformed answer" + on_rank());
    std::memcpy(&count, answer.data(), sizeof count);
    total += count;
  }
  return total;
}

std::size_t MapCore::capacity() const noexcept { return state_->arena.capacity(); }
const std::string& MapCore::what() const noexcept { return state_->what; }

}  // namespace lagoon::detail
