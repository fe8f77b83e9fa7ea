// .npy headers: NumPy's header (a Python dict literal after a magic string)
// parsed with limits on every size and depth, and written as NumPy writes it.
// No MPI here: the fuzz target links this file with error.cpp only.
//
// Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
#include <algorithm>
#include <cctype>
#include <limits>
#include <utility>

#include "lagoon/detail/checked.hpp"
#include "lagoon/detail/dtype.hpp"
#include "lagoon/error.hpp"
#include "npy_internal.hpp"

namespace lagoon::detail {

void npy_error(const std::string& file, const std::string& why) {
  throw FormatError("lagoon::load_npy: '" + file + "': " + why);
}

std::uint64_t shape_product(const std::vector<std::size_t>& shape, std::uint64_t limit, const std::string& file,
                            const char* what) {
  const auto n = checked_product(shape, limit);
  if (!n) npy_error(file, std::string(what) + " is too large");
  return *n;
}

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::uint64_t kMaxHeaderBytes = 1u << 20;  // NumPy's own headers are a few hundred bytes
constexpr int kMaxDepth = 16;
constexpr std::uint64_t kMaxItemsize = std::uint64_t{1} << 40;

// ---- A Python literal: what a .npy header dict is made of ------------------------

struct Value {
  enum class Kind { string, integer, boolean, none, list, tuple, dict };
  Kind kind = Kind::none;
  std::string text;
  std::uint64_t number = 0;
  bool negative = false;
  std::vector<Value> items;  // a list's or tuple's items; a dict's keys and values, alternating
};

class LiteralParser {
 public:
  LiteralParser(std::string_view text, const std::string& file) : text_(text), file_(file) {}

  Value parse() {
    Value v = value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the header's dict");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    npy_error(file_, "corrupt header: " + why + " at byte " + std::to_string(pos_) + " of the header");
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool take(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) return ++pos_, true;
    return false;
  }
  bool word(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    const std::size_t after = pos_ + w.size();
    if (after < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[after])) || text_[after] == '_'))
      return false;
    pos_ = after;
    return true;
  }

  Value value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth));
    skip_space();
    if (pos_ >= text_.size()) fail("the header ends in the middle of a value");
    const char c = text_[pos_];
    if (c == '\'' || c == '"') return string_value();
    if (c == '-' || (c >= '0' && c <= '9')) return integer_value();
    if (c == '{') return dict_value(depth);
    if (c == '[' || c == '(') return sequence(depth);
    Value v;
    if (word("True")) {
      v.kind = Value::Kind::boolean;
      v.number = 1;
    } else if (word("False")) {
      v.kind = Value::Kind::boolean;
    } else if (word("None")) {
      v.kind = Value::Kind::none;
    } else {
      fail(std::string("unexpected character '") + (std::isprint(static_cast<unsigned char>(c)) ? c : '?') + "'");
    }
    return v;
  }

  Value string_value() {
    const char quote = text_[pos_++];
    Value v;
    v.kind = Value::Kind::string;
    for (;;) {
      if (pos_ >= text_.size()) fail("a string is not closed");
      char c = text_[pos_++];
      if (c == quote) break;
      if (c == '\n') fail("a string runs past the end of a line");
      if (c == '\\') {
        if (pos_ >= text_.size()) fail("a string ends in a backslash");
        const char e = text_[pos_++];
        switch (e) {
          case '\\':
          case '\'':
          case '"':
            c = e;
            break;
          case 'n':
            c = '\n';
            break;
          case 't':
            c = '\t';
            break;
          case 'r':
            c = '\r';
            break;
          case '0':
            c = '\0';
            break;
          case 'x': {
            if (pos_ + 2 > text_.size() || !std::isxdigit(static_cast<unsigned char>(text_[pos_])) ||
                !std::isxdigit(static_cast<unsigned char>(text_[pos_ + 1])))
              fail("a bad \\x escape");
            c = static_cast<char>(std::stoi(std::string(text_.substr(pos_, 2)), nullptr, 16));
            pos_ += 2;
            break;
          }
          default:
            fail(std::string("an unknown escape \\") + e);
        }
      }
      v.text += c;
    }
    return v;
  }

  Value integer_value() {
    Value v;
    v.kind = Value::Kind::integer;
    if (text_[pos_] == '-') v.negative = true, ++pos_;
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const std::uint64_t digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (v.number > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) fail("an integer too large");
      v.number = v.number * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) fail("a '-' without digits");
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2's long suffix, in old files
    return v;
  }

  Value dict_value(int depth) {
    ++pos_;
    Value v;
    v.kind = Value::Kind::dict;
    while (!take('}')) {
      Value key = value(depth + 1);
      if (!take(':')) fail("':' expected after a dict key");
      Value item = value(depth + 1);
      v.items.push_back(std::move(key));
      v.items.push_back(std::move(item));
      if (!take(',')) {
        if (!take('}')) fail("',' or '}' expected in a dict");
        break;
      }
    }
    return v;
  }

  Value sequence(int depth) {
    const char open = text_[pos_++];
    const char close = open == '[' ? ']' : ')';
    Value v;
    v.kind = open == '[' ? Value::Kind::list : Value::Kind::tuple;
    bool comma = false;
    while (!take(close)) {
      v.items.push_back(value(depth + 1));
      comma = take(',');
      if (!comma) {
        if (!take(close)) fail(std::string("',' or '") + close + "' expected");
        break;
      }
    }
    // (x) is x in Python, not a tuple; (x,) is a tuple.
    if (open == '(' && v.items.size() == 1 && !comma) return std::move(v.items[0]);
    return v;
  }

  std::string_view text_;
  const std::string& file_;
  std::size_t pos_ = 0;
};

// ---- dtypes --------------------------------------------------------------------

std::string quote(std::string_view text) {
  const bool single = text.find('\'') == std::string_view::npos || text.find('"') != std::string_view::npos;
  const char q = single ? '\'' : '"';
  std::string out(1, q);
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\\' || c == q) {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {  // control characters: Python's \xNN spelling
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 15];
    } else {
      out += c;
    }
  }
  return out + q;
}

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

/// NumPy's datetime64/timedelta64 units, with an optional multiplier: 'ns', '10ms', 'D'.
bool valid_time_unit(std::string_view unit) {
  std::size_t digits = 0;
  while (digits < unit.size() && digits < 9 && unit[digits] >= '0' && unit[digits] <= '9') ++digits;
  if (digits > 0 && unit[0] == '0') return false;
  const std::string_view base = unit.substr(digits);
  for (std::string_view known : {"Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"})
    if (base == known) return true;
  return false;
}

/// '<f8', '=f8', 'f8', '|S6', '<M8[ns]', '?', ... in canonical form ('<f8', '|S6', '|b1').
/// Returns an empty string for text that is no scalar dtype lagoon can describe.
std::string canonical_scalar(std::string_view text, std::size_t& itemsize, std::string& why) {
  if (text == "?" || text == "|?" || text == "b1" || text == "|b1") return itemsize = 1, "|b1";
  std::size_t pos = 0;
  char order = '=';
  if (!text.empty() && std::string_view("<>|=").find(text[0]) != std::string_view::npos) order = text[pos++];
  if (pos >= text.size()) return why = "empty type", "";
  const char kind = text[pos++];
  if (std::string_view("biufcSVMmU").find(kind) == std::string_view::npos) {
    if (kind == 'O')
      why = "an object dtype ('O'): the array holds pickled Python objects, which lagoon cannot read";
    else
      why = std::string("an unknown type code '") + kind + "'";
    return "";
  }
  std::uint64_t count = 0;
  const std::size_t digits = pos;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    count = count * 10 + static_cast<std::uint64_t>(text[pos++] - '0');
    if (count > kMaxItemsize) return why = "an itemsize too large", "";
  }
  if (pos == digits || count == 0) return why = "a type without a size", "";
  std::string unit;
  if (kind == 'M' || kind == 'm') {
    if (count != 8) return why = "a datetime64/timedelta64 of other than 8 bytes", "";
    if (pos >= text.size() || text[pos] != '[') return why = "a datetime64/timedelta64 without a unit", "";
    const std::size_t close = text.find(']', pos);
    if (close == std::string_view::npos) return why = "an unclosed time unit", "";
    unit = std::string(text.substr(pos, close - pos + 1));
    if (!valid_time_unit(text.substr(pos + 1, close - pos - 1))) return why = "an unknown time unit " + unit, "";
    pos = close + 1;
  }
  if (pos != text.size()) return why = "unexpected text after the type", "";
  if ((kind == 'f' && count != 2 && count != 4 && count != 8 && count != 16) ||
      (kind == 'c' && count != 8 && count != 16 && count != 32) ||
      ((kind == 'i' || kind == 'u') && count != 1 && count != 2 && count != 4 && count != 8) ||
      (kind == 'b' && count != 1))
    return why = "no such type", "";
  itemsize = static_cast<std::size_t>(kind == 'U' ? count * 4 : count);
  const bool no_order = kind == 'S' || kind == 'V' || kind == 'b' || itemsize == 1;
  if (no_order)
    order = '|';
  else if (order == '=' || order == '|')
    order = '<';  // this host is little-endian
  return order + std::string(1, kind) + std::to_string(count) + unit;
}

std::vector<std::size_t> to_shape(const Value& v, const std::string& file, const char* what) {
  std::vector<std::size_t> shape;
  auto extent = [&](const Value& e) {
    if (e.kind != Value::Kind::integer || e.negative)
      npy_error(file, std::string(what) + " holds something other than sizes");
    if (e.number > (std::uint64_t{1} << 62)) npy_error(file, std::string(what) + " holds a size too large");
    shape.push_back(static_cast<std::size_t>(e.number));
  };
  if (v.kind == Value::Kind::integer) {
    extent(v);
  } else if (v.kind == Value::Kind::tuple || v.kind == Value::Kind::list) {
    if (v.items.size() > 32) npy_error(file, std::string(what) + " has more than 32 dimensions");
    for (const Value& e : v.items) extent(e);
  } else {
    npy_error(file, std::string(what) + " is not a tuple of sizes");
  }
  return shape;
}

Dtype to_dtype(const Value& v, const std::string& file, int depth) {
  if (depth > kMaxDepth) npy_error(file, "a dtype nested too deep");
  if (v.kind == Value::Kind::string) {
    std::size_t itemsize = 0;
    std::string why;
    std::string canonical = canonical_scalar(v.text, itemsize, why);
    if (canonical.empty()) npy_error(file, "dtype " + quote(v.text) + ": " + why);
    Dtype d;
    d.scalar = std::move(canonical);
    d.itemsize = itemsize;
    return d;
  }
  if (v.kind != Value::Kind::list) npy_error(file, "'descr' is neither a type string nor a list of fields");
  if (v.items.empty()) npy_error(file, "a structured dtype without fields");
  Dtype d;
  std::uint64_t total = 0;
  for (const Value& item : v.items) {
    if (item.kind != Value::Kind::tuple || item.items.size() < 2 || item.items.size() > 3)
      npy_error(file, "a field of the dtype is not a (name, type) or (name, type, shape) tuple");
    if (item.items[0].kind == Value::Kind::tuple) npy_error(file, "fields with titles are not supported");
    if (item.items[0].kind != Value::Kind::string) npy_error(file, "a field name is not a string");
    Field f{item.items[0].text, to_dtype(item.items[1], file, depth + 1), {}};
    if (item.items.size() == 3) f.shape = to_shape(item.items[2], file, "a field's shape");
    if (f.name.empty() && !(f.type.fields.empty() && f.type.scalar[1] == 'V' && f.shape.empty()))
      npy_error(file, "a field without a name that is not padding");
    const std::uint64_t bytes =
        shape_product(f.shape, kMaxItemsize / std::max<std::size_t>(f.type.itemsize, 1), file, "a field's shape") *
        f.type.itemsize;
    total += bytes;
    if (total > kMaxItemsize) npy_error(file, "a record larger than 1 TiB");
    for (const Field& other : d.fields)
      if (!f.name.empty() && other.name == f.name) npy_error(file, "two fields named " + quote(f.name));
    d.fields.push_back(std::move(f));
  }
  d.itemsize = static_cast<std::size_t>(total);
  return d;
}

const Value* entry(const Value& dict, std::string_view key) {
  for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2)
    if (dict.items[i].kind == Value::Kind::string && dict.items[i].text == key) return &dict.items[i + 1];
  return nullptr;
}

std::uint16_t le16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

/// A named field's bytes in an item: its path ("a.b" in a nested record), its type
/// (descr and subarray shape) and where it lies.
struct Leaf {
  std::string name;
  std::string type;
  std::uint64_t offset;
  std::uint64_t bytes;
};

std::uint64_t field_bytes(const Field& f) {
  std::uint64_t n = f.type.itemsize;
  for (std::size_t e : f.shape) n *= e;
  return n;
}

void flatten(const Dtype& d, std::uint64_t offset, const std::string& prefix, std::vector<Leaf>& out) {
  for (const Field& f : d.fields) {
    const std::uint64_t bytes = field_bytes(f);
    if (!f.name.empty()) {
      if (!f.type.fields.empty() && f.shape.empty())
        flatten(f.type, offset, prefix + f.name + ".", out);
      else
        out.push_back(Leaf{prefix + f.name, f.type.descr() + (f.shape.empty() ? "" : shape_text(f.shape)), offset,
                           bytes});
    }
    offset += bytes;
  }
}

}  // namespace

std::optional<std::vector<FieldMove>> field_moves(const Dtype& from, const Dtype& to) {
  if (from.fields.empty() || to.fields.empty()) return std::nullopt;
  std::vector<Leaf> a, b;
  flatten(from, 0, "", a);
  flatten(to, 0, "", b);
  if (a.size() != b.size()) return std::nullopt;
  std::vector<FieldMove> moves;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].type != b[i].type || a[i].bytes != b[i].bytes) return std::nullopt;
    if (a[i].offset + a[i].bytes > from.itemsize || b[i].offset + b[i].bytes > to.itemsize) return std::nullopt;
    FieldMove* last = moves.empty() ? nullptr : &moves.back();
    if (last && last->from + last->bytes == a[i].offset && last->to + last->bytes == b[i].offset)
      last->bytes += a[i].bytes;
    else
      moves.push_back(FieldMove{a[i].offset, b[i].offset, a[i].bytes});
  }
  return moves;
}

Dtype packed_dtype(const Dtype& d) {
  if (d.fields.empty()) return d;
  Dtype out;
  for (const Field& f : d.fields) {
    if (f.name.empty()) continue;
    Field g{f.name, f.shape.empty() ? packed_dtype(f.type) : f.type, f.shape};
    out.itemsize += static_cast<std::size_t>(field_bytes(g));
    out.fields.push_back(std::move(g));
  }
  return out;
}

Dtype Dtype::scalar_of(std::string text) {
  Dtype d;
  std::string why;
  d.scalar = canonical_scalar(text, d.itemsize, why);
  if (d.scalar.empty()) throw InvalidArgument("lagoon: no NumPy dtype '" + text + "': " + why);
  return d;
}

std::string Dtype::descr() const {
  if (fields.empty()) return quote(scalar);
  std::string text = "[";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const Field& f = fields[i];
    text += (i ? ", (" : "(") + quote(f.name) + ", " + f.type.descr();
    if (!f.shape.empty()) text += ", " + shape_text(f.shape);
    text += ")";
  }
  return text + "]";
}

std::uint64_t npy_header_bytes(std::string_view preamble, const std::string& file) {
  if (preamble.size() < kMagic.size() || preamble.substr(0, kMagic.size()) != kMagic)
    npy_error(file, "not a .npy file (it does not start with \"\\x93NUMPY\")");
  if (preamble.size() < 10) npy_error(file, "truncated: the file ends inside its header");
  const auto* p = reinterpret_cast<const unsigned char*>(preamble.data());
  const int major = p[6];
  const int minor = p[7];
  if (major < 1 || major > 3 || minor != 0)
    npy_error(file, "format version " + std::to_string(major) + "." + std::to_string(minor) +
                        " is not one lagoon reads (1.0, 2.0 or 3.0)");
  if (major == 1) return 10u + le16(p + 8);
  if (preamble.size() < 12) npy_error(file, "truncated: the file ends inside its header");
  const std::uint64_t length = le32(p + 8);
  if (length > kMaxHeaderBytes)
    npy_error(file, "a header of " + std::to_string(length) + " bytes (more than " + std::to_string(kMaxHeaderBytes) +
                        "): corrupt");
  return 12u + length;
}

NpyHeader parse_npy_header(std::string_view bytes, const std::string& file) {
  const std::uint64_t total = npy_header_bytes(bytes.substr(0, std::min<std::size_t>(bytes.size(), 12)), file);
  if (bytes.size() < total) npy_error(file, "truncated: the file ends inside its header");
  NpyHeader header;
  header.version = static_cast<unsigned char>(bytes[6]);
  header.payload_offset = total;
  const std::size_t start = header.version == 1 ? 10 : 12;
  const Value dict = LiteralParser(bytes.substr(start, static_cast<std::size_t>(total) - start), file).parse();
  if (dict.kind != Value::Kind::dict) npy_error(file, "corrupt header: it is not a dict");
  if (dict.items.size() != 6)
    npy_error(file, "corrupt header: it must hold exactly 'descr', 'fortran_order' and 'shape'");
  const Value* descr = entry(dict, "descr");
  const Value* fortran = entry(dict, "fortran_order");
  const Value* shape = entry(dict, "shape");
  if (!descr || !fortran || !shape)
    npy_error(file, "corrupt header: it must hold exactly 'descr', 'fortran_order' and 'shape'");
  if (fortran->kind != Value::Kind::boolean) npy_error(file, "corrupt header: 'fortran_order' is not True or False");
  header.fortran_order = fortran->number != 0;
  header.dtype = to_dtype(*descr, file, 0);
  if (shape->kind != Value::Kind::tuple) npy_error(file, "corrupt header: 'shape' is not a tuple");
  header.shape = to_shape(*shape, file, "'shape'");
  return header;
}

std::string make_npy_header(const Dtype& dtype, const std::vector<std::size_t>& shape) {
  std::string dict = "{'descr': " + dtype.descr() + ", 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  const bool v1 = dict.size() + 1 + 10 < 65536;
  const std::size_t prefix = v1 ? 10 : 12;
  const std::size_t padded = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(padded - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(kMagic);
  out += static_cast<char>(v1 ? 1 : 2);
  out += '\0';
  const std::size_t length = dict.size();
  for (std::size_t b = 0; b < (v1 ? 2u : 4u); ++b) out += static_cast<char>((length >> (8 * b)) & 0xff);
  return out + dict;
}

}  // namespace lagoon::detail
