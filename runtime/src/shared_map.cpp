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

#include "lagoon/detail/map_core.hpp"
#include "lagoon/error.hpp"
#include "served.hpp"

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

/// What a map asks of another node's part. The body is the key's archive, then the
/// value's (set, compare_and_set).
enum class MapOp : std::uint32_t {
  get = 1,          ///< answer: a packed value (present, version, bytes)
  contains,         ///< answer: a packed value without its bytes
  set,              ///< answer: empty
  erase,            ///< answer: one byte, whether the key was there
  compare_and_set,  ///< answer: a flag (done), then the packed current value
  size,             ///< answer: the node's key count
  items,            ///< args.expected: 1 with values; answer: every entry, packed (pack_entries)
};

/// The op's name, for messages (Served::call).
constexpr const char* op_label(MapOp op) {
  switch (op) {
    case MapOp::get: return "get";
    case MapOp::contains: return "contains";
    case MapOp::set: return "set";
    case MapOp::erase: return "erase";
    case MapOp::compare_and_set: return "update (compare and set)";
    case MapOp::size: return "size";
    case MapOp::items: return "items";
  }
  return "?";
}

/// The arguments of every MapOp.
struct KeyArgs {
  std::uint64_t key_bytes = 0;  ///< the body's first bytes are the key
  std::uint64_t expected = 0;   ///< compare_and_set: the version it replaces
};

constexpr const char* kTableName = "lagoon.map";
constexpr std::size_t kDefaultBytes = std::size_t{64} << 20;

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
  if (in.size() < 2 + sizeof v.version) throw TransportError(what + ": a malformed answer");
  v.present = in[1] != std::byte{0};
  std::memcpy(&v.version, in.data() + 2, sizeof v.version);
  v.bytes.assign(in.begin() + 2 + sizeof v.version, in.end());
  return static_cast<std::uint8_t>(in[0]);
}

}  // namespace

class MapState final : public ArenaServed {
 public:
  void serve(const Request& request, Transport& t) override {
    const auto args = request.args_as<KeyArgs>();
    std::vector<std::byte> body(request.header.body_bytes);
    t.receive_body(request, std::span<std::byte>(body));
    if (args.key_bytes > body.size()) throw TransportError(what + ": a malformed request");
    const auto key = std::span<const std::byte>(body).first(args.key_bytes);
    const auto value = std::span<const std::byte>(body).subspan(args.key_bytes);
    const auto op = static_cast<MapOp>(request.header.op);
    switch (op) {
      case MapOp::get:
      case MapOp::contains:
        t.answer(request, pack_value(read(key, op == MapOp::get)));
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
        const bool done = swap(key, args.expected, value, current);
        t.answer(request, pack_value(current, done ? 1 : 0));
        return;
      }
      case MapOp::size: {
        const std::uint64_t n = count();
        t.answer(request, std::as_bytes(std::span<const std::uint64_t, 1>(&n, 1)));
        return;
      }
      case MapOp::items:
        t.answer(request, entries(args.expected != 0));
        return;
    }
    throw TransportError(what + ": an unknown request (" + std::to_string(request.header.op) + ")");
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
                        std::to_string(arena.capacity()) +
                        (arena.free_bytes() >= value.size() + key.size()
                             ? " (enough in all, but in pieces: the other entries split the free room, and no "
                               "piece holds this one with its key and the table's row)"
                             : "") +
                        " (make the map larger: LAGOON_MAP_BYTES)");
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

  /// A snapshot of this node's entries: for each, its key's and value's sizes (8 bytes
  /// each; 0 for the value without `with_values`), then the key and the value.
  std::vector<std::byte> entries(bool with_values) const {
    std::vector<std::byte> out;
    const Lock lock(table->mutex);
    for (const auto& [key, slot] : table->entries) {
      const std::uint64_t sizes[2] = {key.size(), with_values ? slot.value.size() : 0};
      const auto* k = reinterpret_cast<const std::byte*>(key.data());
      const auto* v = reinterpret_cast<const std::byte*>(slot.value.data());
      const auto head = std::as_bytes(std::span(sizes));
      out.insert(out.end(), head.begin(), head.end());
      out.insert(out.end(), k, k + sizes[0]);
      out.insert(out.end(), v, v + sizes[1]);
    }
    return out;
  }

  /// The answer of `owner`'s part to `op` on `key` (and `value`).
  std::vector<std::byte> ask(int owner, MapOp op, std::span<const std::byte> key, std::span<const std::byte> value,
                             std::uint64_t expected = 0) const {
    const KeyArgs args{key.size(), expected};
    std::vector<std::byte> body(key.begin(), key.end());
    body.insert(body.end(), value.begin(), value.end());
    return call(owner, op, std::as_bytes(std::span<const KeyArgs, 1>(&args, 1)), body);
  }

  MapTable* table = nullptr;
};

MapCore::MapCore(const Runtime& rt, std::size_t bytes, std::string what) : state_(std::make_unique<MapState>()) {
  auto& s = *state_;
  s.what = std::move(what);
  s.open_arena(rt, bytes, context_of(rt)->settings.map_bytes, kDefaultBytes, "LAGOON_MAP_BYTES", [](Heap& heap) {
    heap.construct<MapTable>(kTableName)(HeapAllocator<char>(heap.get_segment_manager()));
  });
  s.table = s.arena.heap().find<MapTable>(kTableName).first;
  s.open();  // last: other nodes may ask at once
}

MapCore::MapCore(MapCore&&) noexcept = default;

MapCore& MapCore::operator=(MapCore&& other) noexcept {
  if (this != &other) {
    if (state_) state_->close_arena();
    state_ = std::move(other.state_);
  }
  return *this;
}

MapCore::~MapCore() {
  if (state_) state_->close_arena();
}

MapState& MapCore::state(const char* call) const {
  if (!state_) throw InvalidArgument(std::string("lagoon::SharedMap.") + call + ": used after it was moved from");
  state_->arena.segment().check_alive();
  return *state_;
}

int MapCore::owner(std::span<const std::byte> key) const {
  return static_cast<int>(fingerprint(key.data(), key.size()) % static_cast<std::uint64_t>(state("owner").ctx->node_count));
}

MapValue MapCore::get(std::span<const std::byte> key, bool with_value) const {
  auto& s = state("get");
  const int n = owner(key);
  if (n == s.node) return s.read(key, with_value);
  MapValue v;
  unpack_value(s.ask(n, with_value ? MapOp::get : MapOp::contains, key, {}), v, s.what);
  return v;
}

void MapCore::set(std::span<const std::byte> key, std::span<const std::byte> value) {
  auto& s = state("set");
  const int n = owner(key);
  if (n == s.node) return s.write(key, value);
  (void)s.ask(n, MapOp::set, key, value);
}

bool MapCore::erase(std::span<const std::byte> key) {
  auto& s = state("erase");
  const int n = owner(key);
  if (n == s.node) return s.remove(key);
  const auto answer = s.ask(n, MapOp::erase, key, {});
  return !answer.empty() && answer[0] != std::byte{0};
}

bool MapCore::compare_and_set(std::span<const std::byte> key, std::uint64_t expected, std::span<const std::byte> value,
                              MapValue& current) {
  auto& s = state("compare_and_set");
  const int n = owner(key);
  if (n == s.node) return s.swap(key, expected, value, current);
  return unpack_value(s.ask(n, MapOp::compare_and_set, key, value, expected), current, s.what) != 0;
}

std::size_t MapCore::size() const {
  auto& s = state("size");
  std::size_t total = 0;
  for (int n = 0; n < s.ctx->node_count; ++n) {
    if (n == s.node) {
      total += s.count();
      continue;
    }
    const auto answer = s.ask(n, MapOp::size, {}, {});
    std::uint64_t count = 0;
    if (answer.size() != sizeof count) throw Error(s.what + ".size: a malformed answer");
    std::memcpy(&count, answer.data(), sizeof count);
    total += count;
  }
  return total;
}

std::vector<std::pair<std::vector<std::byte>, std::vector<std::byte>>> MapCore::items(bool with_values) const {
  auto& s = state(with_values ? "items" : "keys");
  std::vector<std::pair<std::vector<std::byte>, std::vector<std::byte>>> out;
  auto unpack = [&](std::span<const std::byte> packed) {
    while (!packed.empty()) {
      std::uint64_t sizes[2];
      if (packed.size() < sizeof sizes) throw TransportError(s.what + ".items: a malformed answer");
      std::memcpy(sizes, packed.data(), sizeof sizes);
      packed = packed.subspan(sizeof sizes);
      if (sizes[0] > packed.size() || sizes[1] > packed.size() - sizes[0])
        throw TransportError(s.what + ".items: a malformed answer");
      out.emplace_back(std::vector<std::byte>(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(sizes[0])),
                       std::vector<std::byte>(packed.begin() + static_cast<std::ptrdiff_t>(sizes[0]),
                                              packed.begin() + static_cast<std::ptrdiff_t>(sizes[0] + sizes[1])));
      packed = packed.subspan(static_cast<std::size_t>(sizes[0] + sizes[1]));
    }
  };
  s.each_node([&] { unpack(s.entries(with_values)); },
              [&](int n) { unpack(s.ask(n, MapOp::items, {}, {}, with_values ? 1 : 0)); });
  return out;
}

std::size_t MapCore::capacity() const noexcept { return state_ ? state_->arena.capacity() : 0; }
const std::string& MapCore::what() const { return state("what").what; }

}  // namespace lagoon::detail
