// GlobalArray's core: the block distribution over nodes, range checks, the local
// path (plain copies in the node's window) and the remote path (the transport).
#include "lagoon/detail/global_core.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>

#include "lagoon/detail/agree.hpp"
#include "lagoon/detail/shape.hpp"
#include "lagoon/detail/share.hpp"
#include "lagoon/error.hpp"
#include "served.hpp"

namespace lagoon::detail {
namespace {

template <class T>
void add_as(std::byte* dst, const std::byte* src, std::size_t bytes) {
  auto* target = reinterpret_cast<T*>(dst);
  const std::size_t n = bytes / sizeof(T);
  for (std::size_t i = 0; i < n; ++i) {
    T value;
    std::memcpy(&value, src + i * sizeof(T), sizeof(T));
    std::atomic_ref<T>(target[i]).fetch_add(value, std::memory_order_relaxed);
  }
}

std::string rows_text(std::size_t begin, std::size_t end) {
  return "rows [" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

/// What a GlobalArray asks of another node's block.
enum class GlobalOp : std::uint32_t {
  get = 1,     ///< answer: `bytes` bytes from `offset`
  put,         ///< body: bytes to write at `offset`; posted
  accumulate,  ///< body: elements of `kind` to add at `offset`; posted
};

/// The arguments of every GlobalOp.
struct BlockArgs {
  std::uint64_t offset = 0;  ///< in the owner's block, in bytes
  std::uint64_t bytes = 0;   ///< asked for (get); the body's size (put, accumulate)
  ElementKind kind = ElementKind::none;
  std::uint32_t reserved = 0;
};

}  // namespace

void add_elements(ElementKind kind, std::byte* dst, const std::byte* src, std::size_t bytes) {
  switch (kind) {
    case ElementKind::i8: return add_as<std::int8_t>(dst, src, bytes);
    case ElementKind::i16: return add_as<std::int16_t>(dst, src, bytes);
    case ElementKind::i32: return add_as<std::int32_t>(dst, src, bytes);
    case ElementKind::i64: return add_as<std::int64_t>(dst, src, bytes);
    case ElementKind::u8: return add_as<std::uint8_t>(dst, src, bytes);
    case ElementKind::u16: return add_as<std::uint16_t>(dst, src, bytes);
    case ElementKind::u32: return add_as<std::uint32_t>(dst, src, bytes);
    case ElementKind::u64: return add_as<std::uint64_t>(dst, src, bytes);
    case ElementKind::f32: return add_as<float>(dst, src, bytes);
    case ElementKind::f64: return add_as<double>(dst, src, bytes);
    case ElementKind::none: break;
  }
  throw InvalidArgument("lagoon: accumulate of an element type that cannot be added atomically");
}

/// What a GlobalCore owns; answers the other nodes' requests for this node's block.
class GlobalState final : public Served {
 public:
  void serve(const Request& request, Transport& transport) override {
    const auto args = request.args_as<BlockArgs>();
    const std::size_t block = segment.bytes();
    if (args.offset > block || args.bytes > block - args.offset)
      throw TransportError(what + ": a request for bytes [" + std::to_string(args.offset) + ", " +
                           std::to_string(args.offset + args.bytes) + ") of node " + std::to_string(node) +
                           "'s block of " + std::to_string(block) + " bytes");
    std::byte* at = segment.data() + args.offset;
    switch (static_cast<GlobalOp>(request.header.op)) {
      case GlobalOp::get:
        transport.answer(request, {at, args.bytes});
        return;
      case GlobalOp::put:
        transport.receive_body(request, std::span<std::byte>(at, args.bytes));
        return;
      case GlobalOp::accumulate:
        if (args.kind != kind || args.bytes % element_bytes != 0 || request.header.body_bytes != args.bytes)
          throw TransportError(what + ": an accumulate of another element type");
        transport.receive_body(request, [&](std::size_t offset, std::span<const std::byte> piece) {
          add_elements(kind, at + offset, piece.data(), piece.size());
        });
        return;
    }
    throw TransportError(what + ": an unknown request (" + std::to_string(request.header.op) + ")");
  }

  std::vector<std::size_t> shape;
  std::size_t rows = 0;
  std::size_t row_elements = 1;
  std::size_t element_bytes = 0;
  std::size_t row_bytes = 0;
  ElementKind kind = ElementKind::none;
  std::vector<std::size_t> first_row;  // node_count + 1 entries
  Segment segment;
};

GlobalCore::GlobalCore(const Runtime& rt, std::span<const std::size_t> shape, std::size_t element_bytes,
                       std::size_t alignment, ElementKind kind, std::string what)
    : state_(std::make_unique<GlobalState>()) {
  auto& s = *state_;
  s.ctx = context_of(rt);
  s.ctx->check_alive(what.c_str());
  s.shape.assign(shape.begin(), shape.end());
  (void)agreed_element_count(rt, shape, element_bytes, what);  // checked: the rows' product cannot overflow
  for (std::size_t d = 1; d < shape.size(); ++d) s.row_elements *= shape[d];
  s.rows = shape[0];
  s.element_bytes = element_bytes;
  s.row_bytes = s.row_elements * element_bytes;
  s.kind = kind;
  s.what = std::move(what);
  const auto nodes = static_cast<std::size_t>(rt.node_count());
  for (std::size_t n = 0; n < nodes; ++n) s.first_row.push_back(share_bounds(s.rows, nodes, n).first);
  s.first_row.push_back(s.rows);
  const auto me = static_cast<std::size_t>(rt.node());
  s.segment = Segment(rt, (s.first_row[me + 1] - s.first_row[me]) * s.row_bytes, alignment, s.what);
  s.open();
}

GlobalCore::~GlobalCore() {
  if (state_) state_->close();
}

const std::vector<std::size_t>& GlobalCore::shape() const noexcept { return state_->shape; }
std::size_t GlobalCore::rows() const noexcept { return state_->rows; }
std::size_t GlobalCore::row_elements() const noexcept { return state_->row_elements; }
std::size_t GlobalCore::first_row(int node) const noexcept { return state_->first_row[static_cast<std::size_t>(node)]; }
std::size_t GlobalCore::local_begin() const noexcept { return first_row(state_->node); }
std::size_t GlobalCore::local_end() const noexcept { return first_row(state_->node + 1); }
const std::string& GlobalCore::what() const noexcept { return state_->what; }

std::byte* GlobalCore::local_data() const {
  state_->segment.check_alive();
  return state_->segment.data();
}

int GlobalCore::owner_node(std::size_t row) const {
  const auto& s = *state_;
  if (row >= s.rows)
    throw ShapeError(s.what + ".owner_node(" + std::to_string(row) + "): the array has " + std::to_string(s.rows) +
                     " rows");
  const auto it = std::upper_bound(s.first_row.begin(), s.first_row.end(), row);
  return static_cast<int>(it - s.first_row.begin()) - 1;
}

namespace {

/// One owner's piece of a row range, in bytes.
struct Piece {
  int node;
  std::size_t buffer_offset;  ///< in the caller's buffer
  std::size_t block_offset;   ///< in the owner's block
  std::size_t bytes;
};

/// Checks a range and its buffer before anything moves, then calls `part(piece)` for
/// each owner's piece of [row_begin, row_end), in node order.
template <class F>
void for_each_owner(const GlobalState& s, const char* call, std::size_t row_begin, std::size_t row_end,
                    std::size_t elements, F&& part) {
  s.segment.check_alive();
  if (row_begin > row_end || row_end > s.rows)
    throw ShapeError(s.what + "." + call + "(" + std::to_string(row_begin) + ", " + std::to_string(row_end) +
                     "): " + rows_text(row_begin, row_end) + " are not a range of the array's " +
                     std::to_string(s.rows) + " rows");
  const std::size_t expected = (row_end - row_begin) * s.row_elements;
  if (elements != expected)
    throw ShapeError(s.what + "." + call + "(" + std::to_string(row_begin) + ", " + std::to_string(row_end) +
                     "): the buffer holds " + std::to_string(elements) + " elements; " +
                     rows_text(row_begin, row_end) + " of " + std::to_string(s.row_elements) + " elements are " +
                     std::to_string(expected));
  if (row_begin == row_end) return;
  const auto nodes = static_cast<int>(s.first_row.size()) - 1;
  for (int n = 0; n < nodes; ++n) {
    const std::size_t b = std::max(row_begin, s.first_row[static_cast<std::size_t>(n)]);
    const std::size_t e = std::min(row_end, s.first_row[static_cast<std::size_t>(n) + 1]);
    if (b < e)
      part(Piece{n, (b - row_begin) * s.row_bytes, (b - s.first_row[static_cast<std::size_t>(n)]) * s.row_bytes,
                 (e - b) * s.row_bytes});
  }
}

}  // namespace

void GlobalCore::get(std::size_t row_begin, std::size_t row_end, std::byte* out, std::size_t out_elements) const {
  const auto& s = *state_;
  std::vector<Transport::Pending> pending;
  std::exception_ptr error;
  try {
    for_each_owner(s, "get", row_begin, row_end, out_elements, [&](const Piece& p) {
      std::byte* into = out + p.buffer_offset;
      if (p.node == s.node) {
        std::memcpy(into, s.segment.data() + p.block_offset, p.bytes);
        return;
      }
      const BlockArgs args{p.block_offset, p.bytes};
      pending.push_back(s.transport->start(p.node, Ask::with(s.id, GlobalOp::get, args), {into, p.bytes}));
    });
  } catch (...) {
    error = std::current_exception();
  }
  // Every posted receive completes (or is cancelled) before `out` is handed back.
  for (auto& call : pending) {
    try {
      s.transport->finish(call, What{s.what, "get"});
    } catch (...) {
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

void GlobalCore::put(std::size_t row_begin, std::size_t row_end, const std::byte* in, std::size_t in_elements) {
  const auto& s = *state_;
  for_each_owner(s, "put", row_begin, row_end, in_elements, [&](const Piece& p) {
    if (p.node == s.node) {
      std::memcpy(s.segment.data() + p.block_offset, in + p.buffer_offset, p.bytes);
      return;
    }
    const BlockArgs args{p.block_offset, p.bytes};
    s.transport->post(p.node, Ask::with(s.id, GlobalOp::put, args, {in + p.buffer_offset, p.bytes}));
  });
}

void GlobalCore::accumulate(std::size_t row_begin, std::size_t row_end, const std::byte* in,
                            std::size_t in_elements) {
  const auto& s = *state_;
  if (s.kind == ElementKind::none)
    throw InvalidArgument(s.what + ".accumulate: the element type cannot be added atomically");
  for_each_owner(s, "accumulate", row_begin, row_end, in_elements, [&](const Piece& p) {
    if (p.node == s.node) {
      add_elements(s.kind, s.segment.data() + p.block_offset, in + p.buffer_offset, p.bytes);
      return;
    }
    const BlockArgs args{p.block_offset, p.bytes, s.kind};
    s.transport->post(p.node, Ask::with(s.id, GlobalOp::accumulate, args, {in + p.buffer_offset, p.bytes}));
  });
}

void GlobalCore::fence() const {
  const auto& s = *state_;
  s.segment.check_alive();
  agree(s.ctx->world, [&] {
    if (s.transport) s.transport->flush();
  });
  s.segment.fence();
}

}  // namespace lagoon::detail
