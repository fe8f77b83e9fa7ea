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
  get_patch,         ///< args: PatchArgs words; answer: the patch's part, packed row-major
  put_patch,         ///< body: the patch's part, packed; posted
  accumulate_patch,  ///< body: elements of `kind` to add over the patch's part; posted
};

/// The arguments of every GlobalOp.
struct BlockArgs {
  std::uint64_t offset = 0;  ///< in the owner's block, in bytes
  std::uint64_t bytes = 0;   ///< asked for (get); the body's size (put, accumulate)
  ElementKind kind = ElementKind::none;
  std::uint32_t reserved = 0;
};

/// A patch's part on one node, as it travels: 64-bit words [first block row, rows,
/// kind, then lo and hi of each dimension after the first]. Its size says the rank.
struct PatchArgs {
  std::vector<std::uint64_t> words;
  [[nodiscard]] std::span<const std::byte> bytes() const { return std::as_bytes(std::span(words)); }
};

/// The contiguous runs of bytes a patch [lo, hi) covers in a row-major block of `shape`
/// (shape[0]: the block's rows), in the patch's own row-major order. A run spans the
/// innermost dimension that is not whole together with all whole ones after it, so a
/// patch of whole rows is one run.
class PatchRuns {
 public:
  PatchRuns(std::span<const std::size_t> shape, std::span<const std::size_t> lo, std::span<const std::size_t> hi,
            std::size_t element_bytes)
      : lo_(lo.begin(), lo.end()), extent_(shape.size()), stride_(shape.size()) {
    const std::size_t n = shape.size();
    std::size_t stride = element_bytes;
    for (std::size_t d = n; d-- > 0;) {
      stride_[d] = stride;
      stride *= shape[d];
      extent_[d] = hi[d] - lo[d];
    }
    std::size_t inner = n - 1;  // the dimension a run starts in
    while (inner > 0 && extent_[inner] == shape[inner]) --inner;
    run_bytes_ = extent_[inner] * stride_[inner];
    outer_ = inner;
    runs_ = 1;
    for (std::size_t d = 0; d < outer_; ++d) runs_ *= extent_[d];
    if (run_bytes_ == 0) runs_ = 0;
  }

  [[nodiscard]] std::size_t bytes() const noexcept { return runs_ * run_bytes_; }
  [[nodiscard]] bool contiguous() const noexcept { return runs_ <= 1; }
  /// The block offset of the patch's first byte (meaningful when contiguous()).
  [[nodiscard]] std::size_t first_offset() const noexcept { return offset_of(std::vector<std::size_t>(outer_, 0)); }

  /// Calls `f(block_offset, patch_offset, bytes)` for every run, or the part of it,
  /// that falls in the patch's packed bytes [begin, end).
  template <class F>
  void for_each(std::size_t begin, std::size_t end, F&& f) const {
    if (begin >= end || run_bytes_ == 0) return;
    std::size_t run = begin / run_bytes_;
    std::vector<std::size_t> index(outer_);
    for (std::size_t d = outer_, rest = run; d-- > 0;) {
      index[d] = rest % extent_[d];
      rest /= extent_[d];
    }
    for (std::size_t at = begin; at < end; ++run) {
      const std::size_t skip = at - run * run_bytes_;
      const std::size_t bytes = std::min(run_bytes_ - skip, end - at);
      f(offset_of(index) + skip, at, bytes);
      at += bytes;
      for (std::size_t d = outer_; d-- > 0;) {  // the next run: an odometer over the outer dimensions
        if (++index[d] < extent_[d]) break;
        index[d] = 0;
      }
    }
  }

 private:
  [[nodiscard]] std::size_t offset_of(const std::vector<std::size_t>& index) const noexcept {
    std::size_t offset = lo_[outer_] * stride_[outer_];
    for (std::size_t d = 0; d < outer_; ++d) offset += (lo_[d] + index[d]) * stride_[d];
    return offset;
  }

  std::vector<std::size_t> lo_;
  std::vector<std::size_t> extent_;
  std::vector<std::size_t> stride_;  ///< in bytes
  std::size_t outer_ = 0;
  std::size_t run_bytes_ = 0;
  std::size_t runs_ = 0;
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
    const auto op = static_cast<GlobalOp>(request.header.op);
    if (op == GlobalOp::get_patch || op == GlobalOp::put_patch || op == GlobalOp::accumulate_patch)
      return serve_patch(op, request, transport);
    const auto args = request.args_as<BlockArgs>();
    const std::size_t block = segment.bytes();
    if (args.offset > block || args.bytes > block - args.offset)
      throw TransportError(what + ": a request for bytes [" + std::to_string(args.offset) + ", " +
                           std::to_string(args.offset + args.bytes) + ") of node " + std::to_string(node) +
                           "'s block of " + std::to_string(block) + " bytes");
    std::byte* at = segment.data() + args.offset;
    switch (op) {
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
      case GlobalOp::get_patch:
      case GlobalOp::put_patch:
      case GlobalOp::accumulate_patch:
        break;
    }
    throw TransportError(what + ": an unknown request (" + std::to_string(request.header.op) + ")");
  }

  /// A patch's part in this node's block: its runs are gathered into one answer, or a
  /// body is scattered over them as its pieces arrive.
  void serve_patch(GlobalOp op, const Request& request, Transport& transport) {
    const std::size_t n = shape.size();
    std::vector<std::uint64_t> words(3 + 2 * (n - 1));
    if (request.args.size() != words.size() * sizeof(std::uint64_t))
      throw TransportError(what + ": a patch request for an array of another rank");
    std::memcpy(words.data(), request.args.data(), request.args.size());
    const std::size_t block_rows = first_row[static_cast<std::size_t>(node) + 1] - first_row[static_cast<std::size_t>(node)];
    std::vector<std::size_t> block_shape(shape), lo(n), hi(n);
    block_shape[0] = block_rows;
    lo[0] = words[0];
    hi[0] = words[0] + words[1];
    for (std::size_t d = 1; d < n; ++d) lo[d] = words[1 + 2 * d], hi[d] = words[2 + 2 * d];
    for (std::size_t d = 0; d < n; ++d)
      if (lo[d] > hi[d] || hi[d] > block_shape[d])
        throw TransportError(what + ": a patch request outside node " + std::to_string(node) + "'s block");
    const PatchRuns runs(block_shape, lo, hi, element_bytes);
    std::byte* block = segment.data();
    if (op == GlobalOp::get_patch) {
      if (runs.contiguous()) return transport.answer(request, {block + runs.first_offset(), runs.bytes()});
      packed.resize(runs.bytes());
      runs.for_each(0, runs.bytes(), [&](std::size_t at, std::size_t to, std::size_t bytes) {
        std::memcpy(packed.data() + to, block + at, bytes);
      });
      return transport.answer(request, packed);
    }
    if (request.header.body_bytes != runs.bytes())
      throw TransportError(what + ": a patch's body of another size than the patch");
    if (op == GlobalOp::put_patch) {
      if (runs.contiguous())
        return transport.receive_body(request, std::span<std::byte>(block + runs.first_offset(), runs.bytes()));
      return transport.receive_body(request, [&](std::size_t offset, std::span<const std::byte> piece) {
        runs.for_each(offset, offset + piece.size(), [&](std::size_t at, std::size_t from, std::size_t bytes) {
          std::memcpy(block + at, piece.data() + (from - offset), bytes);
        });
      });
    }
    if (words[2] != static_cast<std::uint64_t>(kind))
      throw TransportError(what + ": an accumulate of another element type");
    transport.receive_body(request, [&](std::size_t offset, std::span<const std::byte> piece) {
      runs.for_each(offset, offset + piece.size(), [&](std::size_t at, std::size_t from, std::size_t bytes) {
        add_elements(kind, block + at, piece.data() + (from - offset), bytes);
      });
    });
  }

  std::vector<std::size_t> shape;
  std::size_t rows = 0;
  std::size_t row_elements = 1;
  std::size_t element_bytes = 0;
  std::size_t row_bytes = 0;
  ElementKind kind = ElementKind::none;
  std::vector<std::size_t> first_row;  // node_count + 1 entries
  Segment segment;
  std::vector<std::byte> packed;  ///< the service thread's gathered patch answers
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
MPI_Comm GlobalCore::world() const {
  state_->ctx->check_alive(state_->what.c_str());
  return state_->ctx->world;
}
int GlobalCore::node_rank() const { return state_->ctx->node.rank(); }
int GlobalCore::node_size() const { return state_->ctx->node.size(); }

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

std::string bounds_text(std::span<const std::size_t> lo, std::span<const std::size_t> hi) {
  auto list = [](std::span<const std::size_t> v) {
    std::string text = "{";
    for (std::size_t d = 0; d < v.size(); ++d) text += (d ? ", " : "") + std::to_string(v[d]);
    return text + "}";
  };
  return list(lo) + ", " + list(hi);
}

/// One owner's part of a patch: rows [lo[0], hi[0]) of the patch, in its block.
struct PatchPart {
  int node;
  std::size_t buffer_offset;  ///< in the caller's buffer, in bytes (the part is contiguous there)
  std::vector<std::size_t> lo, hi;  ///< in the owner's block
  std::vector<std::size_t> block_shape;
};

/// Checks a patch and its buffer before anything moves, then calls `part(p)` for each
/// owner's part of [lo, hi), in node order.
template <class F>
void for_each_patch_owner(const GlobalState& s, const char* call, std::span<const std::size_t> lo,
                          std::span<const std::size_t> hi, std::size_t elements, F&& part) {
  s.segment.check_alive();
  const std::size_t n = s.shape.size();
  const auto fail = [&](const std::string& why) {
    throw ShapeError(s.what + "." + call + "(" + bounds_text(lo, hi) + "): " + why);
  };
  if (n > 32) fail("patches reach arrays of at most 32 dimensions");
  if (lo.size() != n || hi.size() != n)
    fail("the bounds have " + std::to_string(lo.size()) + " and " + std::to_string(hi.size()) +
         " dimensions; the array has " + std::to_string(n));
  std::size_t expected = 1;
  for (std::size_t d = 0; d < n; ++d) {
    if (lo[d] > hi[d] || hi[d] > s.shape[d])
      fail("[" + std::to_string(lo[d]) + ", " + std::to_string(hi[d]) + ") is not a range of dimension " +
           std::to_string(d) + "'s " + std::to_string(s.shape[d]) + " indices");
    expected *= hi[d] - lo[d];
  }
  if (elements != expected)
    fail("the buffer holds " + std::to_string(elements) + " elements; the patch has " + std::to_string(expected));
  if (expected == 0) return;
  const std::size_t part_row_bytes = expected / (hi[0] - lo[0]) * s.element_bytes;
  const auto nodes = static_cast<int>(s.first_row.size()) - 1;
  for (int node = 0; node < nodes; ++node) {
    const std::size_t first = s.first_row[static_cast<std::size_t>(node)];
    const std::size_t b = std::max(lo[0], first);
    const std::size_t e = std::min(hi[0], s.first_row[static_cast<std::size_t>(node) + 1]);
    if (b >= e) continue;
    PatchPart p{node, (b - lo[0]) * part_row_bytes, {lo.begin(), lo.end()}, {hi.begin(), hi.end()}, s.shape};
    p.lo[0] = b - first;
    p.hi[0] = e - first;
    p.block_shape[0] = s.first_row[static_cast<std::size_t>(node) + 1] - first;
    part(p);
  }
}

/// Runs `start(pending)`, which starts a get's calls (and may throw before or between
/// them), then waits for every started call: each posted receive completes (or is
/// cancelled) before the caller's buffer is handed back. Throws the first failure.
template <class Start>
void get_from_owners(const GlobalState& s, Start&& start) {
  std::vector<Transport::Pending> pending;
  std::exception_ptr error;
  try {
    start(pending);
  } catch (...) {
    error = std::current_exception();
  }
  for (auto& call : pending) {
    try {
      s.transport->finish(call, What{s.what, "get"});
    } catch (...) {
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

PatchArgs patch_args(const PatchPart& p, ElementKind kind) {
  PatchArgs args;
  args.words = {p.lo[0], p.hi[0] - p.lo[0], static_cast<std::uint64_t>(kind)};
  for (std::size_t d = 1; d < p.lo.size(); ++d) {
    args.words.push_back(p.lo[d]);
    args.words.push_back(p.hi[d]);
  }
  return args;
}

}  // namespace

void GlobalCore::get(std::span<const std::size_t> lo, std::span<const std::size_t> hi, std::byte* out,
                     std::size_t out_elements) const {
  const auto& s = *state_;
  std::vector<PatchArgs> args;  // each call's args live until it is finished
  args.reserve(s.first_row.size());
  get_from_owners(s, [&](std::vector<Transport::Pending>& pending) {
    for_each_patch_owner(s, "get", lo, hi, out_elements, [&](const PatchPart& p) {
      const PatchRuns runs(p.block_shape, p.lo, p.hi, s.element_bytes);
      std::byte* into = out + p.buffer_offset;
      if (p.node == s.node) {
        runs.for_each(0, runs.bytes(), [&](std::size_t at, std::size_t to, std::size_t bytes) {
          std::memcpy(into + to, s.segment.data() + at, bytes);
        });
        return;
      }
      args.push_back(patch_args(p, ElementKind::none));
      pending.push_back(s.transport->start(
          p.node, Ask{s.id, static_cast<std::uint32_t>(GlobalOp::get_patch), args.back().bytes(), {}},
          {into, runs.bytes()}));
    });
  });
}

void GlobalCore::put(std::span<const std::size_t> lo, std::span<const std::size_t> hi, const std::byte* in,
                     std::size_t in_elements) {
  const auto& s = *state_;
  for_each_patch_owner(s, "put", lo, hi, in_elements, [&](const PatchPart& p) {
    const PatchRuns runs(p.block_shape, p.lo, p.hi, s.element_bytes);
    const std::byte* from = in + p.buffer_offset;
    if (p.node == s.node) {
      runs.for_each(0, runs.bytes(), [&](std::size_t at, std::size_t to, std::size_t bytes) {
        std::memcpy(s.segment.data() + at, from + to, bytes);
      });
      return;
    }
    const PatchArgs args = patch_args(p, ElementKind::none);
    s.transport->post(p.node, Ask{s.id, static_cast<std::uint32_t>(GlobalOp::put_patch), args.bytes(),
                                  {from, runs.bytes()}});
  });
}

void GlobalCore::accumulate(std::span<const std::size_t> lo, std::span<const std::size_t> hi, const std::byte* in,
                            std::size_t in_elements) {
  const auto& s = *state_;
  if (s.kind == ElementKind::none)
    throw InvalidArgument(s.what + ".accumulate: the element type cannot be added atomically");
  for_each_patch_owner(s, "accumulate", lo, hi, in_elements, [&](const PatchPart& p) {
    const PatchRuns runs(p.block_shape, p.lo, p.hi, s.element_bytes);
    const std::byte* from = in + p.buffer_offset;
    if (p.node == s.node) {
      runs.for_each(0, runs.bytes(), [&](std::size_t at, std::size_t to, std::size_t bytes) {
        add_elements(s.kind, s.segment.data() + at, from + to, bytes);
      });
      return;
    }
    const PatchArgs args = patch_args(p, s.kind);
    s.transport->post(p.node, Ask{s.id, static_cast<std::uint32_t>(GlobalOp::accumulate_patch), args.bytes(),
                                  {from, runs.bytes()}});
  });
}

void GlobalCore::get(std::size_t row_begin, std::size_t row_end, std::byte* out, std::size_t out_elements) const {
  const auto& s = *state_;
  get_from_owners(s, [&](std::vector<Transport::Pending>& pending) {
    for_each_owner(s, "get", row_begin, row_end, out_elements, [&](const Piece& p) {
      std::byte* into = out + p.buffer_offset;
      if (p.node == s.node) {
        std::memcpy(into, s.segment.data() + p.block_offset, p.bytes);
        return;
      }
      const BlockArgs args{p.block_offset, p.bytes};
      pending.push_back(s.transport->start(p.node, Ask::with(s.id, GlobalOp::get, args), {into, p.bytes}));
    });
  });
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

void GlobalCore::flush() const {
  const auto& s = *state_;
  s.segment.check_alive();
  if (s.transport) s.transport->flush();
  std::atomic_thread_fence(std::memory_order_seq_cst);  // this rank's writes to its own node's rows
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
