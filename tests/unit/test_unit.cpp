// Unit tests without MPI: the share split, fingerprints, the Shareable
// concept's verdicts, byte formatting, memory accounting.
#include <gtest/gtest.h>

#include <array>
#include <lagoon/detail/agree.hpp>
#include <lagoon/detail/share.hpp>
#include <lagoon/detail/type_name.hpp>
#include <lagoon/memory.hpp>
#include <lagoon/shareable.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Plain {
  double x;
  int y;
};
struct WithPointer {
  double x;
  double* p;
};
BOOST_DESCRIBE_STRUCT(WithPointer, (), (x, p))
struct Nested {
  Plain inner;
  std::array<float, 3> v;
};

static_assert(lagoon::Shareable<double>);
static_assert(lagoon::Shareable<Plain>);
static_assert(lagoon::Shareable<Nested>);
static_assert(lagoon::Shareable<std::array<int, 4>>);
static_assert(!lagoon::Shareable<std::string>);
static_assert(!lagoon::Shareable<std::vector<int>>);
static_assert(!lagoon::Shareable<int*>);
static_assert(!lagoon::Shareable<const char*>);
static_assert(!lagoon::Shareable<int* [3]>);
static_assert(!lagoon::Shareable<std::array<void*, 2>>);
static_assert(!lagoon::Shareable<std::string_view>);  // trivially copyable, but a pointer inside
static_assert(!lagoon::Shareable<std::span<const double>>);
static_assert(!lagoon::Shareable<std::span<int, 4>>);
static_assert(!lagoon::Shareable<WithPointer>, "a described member that is a pointer is caught");
static_assert(!lagoon::Shareable<int&>);

TEST(Share, SplitsEvenlyAndCoversAll) {
  for (std::size_t n : {0, 1, 5, 64, 1001}) {
    for (std::size_t parts : {1, 2, 3, 7, 16}) {
      std::size_t next = 0;
      for (std::size_t p = 0; p < parts; ++p) {
        const auto [begin, end] = lagoon::detail::share_bounds(n, parts, p);
        EXPECT_EQ(begin, next);
        EXPECT_LE(end - begin, n / parts + 1);
        EXPECT_GE(end - begin, n / parts);
        next = end;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(Fingerprint, DiffersForDifferentShapes) {
  const std::size_t a[] = {10, 20};
  const std::size_t b[] = {20, 10};
  EXPECT_NE(lagoon::detail::fingerprint(a, sizeof a), lagoon::detail::fingerprint(b, sizeof b));
  EXPECT_EQ(lagoon::detail::fingerprint(a, sizeof a), lagoon::detail::fingerprint(a, sizeof a));
}

TEST(TypeName, IsReadable) {
  EXPECT_EQ(lagoon::detail::type_name<double>(), "double");
  EXPECT_NE(lagoon::detail::type_name<Plain>().find("Plain"), std::string_view::npos);
}

TEST(Memory, FormatsBytes) {
  EXPECT_EQ(lagoon::format_bytes(512), "512 B");
  EXPECT_EQ(lagoon::format_bytes(1536.0 * 1024 * 1024), "1.50 GiB");
  EXPECT_EQ(lagoon::format_bytes(100.0 * 1024 * 1024 * 1024 * 1024), "100.00 TiB");
}

TEST(Memory, ReadsThisProcess) {
  const auto before = lagoon::memory_usage();
  EXPECT_GT(before.rss, 0u);
  EXPECT_GT(before.pss, 0u);
  std::vector<char> block(64 << 20, 1);
  const auto after = lagoon::memory_usage();
  EXPECT_GE(after.rss, before.rss + (60u << 20));
  EXPECT_GT(lagoon::available_memory(), 0u);
}

}  // namespace

// ---- the serialized path's reader ----

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <random>

#include "lagoon/detail/archive.hpp"
#include "lagoon/detail/dtype.hpp"

namespace {

using Catalog = std::map<std::string, std::vector<std::string>>;

Catalog sample_catalog() {
  Catalog c;
  for (int i = 0; i < 20; ++i)
    c["key" + std::to_string(i)] = std::vector<std::string>(static_cast<std::size_t>(i % 4), "v" + std::to_string(i));
  return c;
}

TEST(Archive, RoundTripsWithAndWithoutHeader) {
  const Catalog c = sample_catalog();
  for (unsigned flags : {0u, unsigned{boost::archive::no_header}}) {
    std::vector<std::byte> bytes;
    lagoon::detail::serialize_into(c, bytes, flags);
    Catalog back;
    lagoon::detail::deserialize(bytes, back, "catalog", flags);
    EXPECT_EQ(back, c);
  }
}

TEST(Archive, EveryTruncationIsADeserializeError) {
  std::vector<std::byte> bytes;
  lagoon::detail::serialize_into(sample_catalog(), bytes);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    Catalog back;
    EXPECT_THROW(lagoon::detail::deserialize(std::span<const std::byte>(bytes).first(cut), back, "catalog"),
                 lagoon::DeserializeError)
        << "cut at " << cut << " of " << bytes.size();
  }
}

TEST(Archive, CorruptBytesAreADeserializeErrorOrAValueNeverACrash) {
  std::vector<std::byte> good;
  lagoon::detail::serialize_into(sample_catalog(), good);
  std::mt19937_64 rng(7);
  int refused = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    auto bytes = good;
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
      bytes[rng() % bytes.size()] = static_cast<std::byte>(rng());
    Catalog back;
    try {
      lagoon::detail::deserialize(bytes, back, "catalog");
    } catch (const lagoon::DeserializeError&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 1000);  // most corruptions are caught (the rest change a character)
}

TEST(Archive, ALengthLargerThanTheArchiveIsRefusedBeforeAllocating) {
  std::vector<std::byte> bytes;
  lagoon::detail::serialize_into(std::string("abc"), bytes, boost::archive::no_header);
  const std::uint64_t huge = std::uint64_t{1} << 60;  // an allocation that would fail, or take all memory
  std::memcpy(bytes.data(), &huge, sizeof huge);
  std::string back;
  try {
    lagoon::detail::deserialize(bytes, back, "text", boost::archive::no_header);
    FAIL() << "read a string of 2^60 bytes from 11";
  } catch (const lagoon::DeserializeError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than the bytes left"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(back.capacity() < 1024);
}

}  // namespace

// ---- .npy headers ---------------------------------------------------------------

TEST(NpyHeader, ReadsWhatNumpyWrites) {
  // np.save of np.zeros(3, dtype=[('when','M8[ns]'),('price','<f8'),('code','S6')], align=True), byte for byte.
  std::string dict =
      "{'descr': [('when', '<M8[ns]'), ('price', '<f8'), ('code', '|S6'), ('', '|V2')], 'fortran_order': False, "
      "'shape': (3,), }";
  dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  const std::string file = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(dict.size()) + '\0' + dict;
  const auto h = lagoon::detail::parse_npy_header(file, "t.npy");
  EXPECT_EQ(h.dtype.descr(), "[('when', '<M8[ns]'), ('price', '<f8'), ('code', '|S6'), ('', '|V2')]");
  EXPECT_EQ(h.dtype.itemsize, 24u);
  EXPECT_EQ(h.shape, std::vector<std::size_t>{3});
  EXPECT_EQ(h.payload_offset, 192u);  // NumPy's header here: 0xb6 bytes after 10
  EXPECT_FALSE(h.fortran_order);
}

TEST(NpyHeader, WritesHeadersThatParseBackAndAlignTheData) {
  using lagoon::detail::Dtype;
  for (const char* scalar : {"<f8", "|S6", "<M8[ns]", "|b1", "<c8"}) {
    const Dtype d = Dtype::scalar_of(scalar);
    const std::string header = lagoon::detail::make_npy_header(d, {2, 5});
    EXPECT_EQ(header.size() % 64, 0u);  // the data starts aligned, as NumPy's files do
    const auto back = lagoon::detail::parse_npy_header(header, "x.npy");
    EXPECT_EQ(back.dtype.descr(), d.descr());
    EXPECT_EQ(back.shape, (std::vector<std::size_t>{2, 5}));
  }
  // Spellings NumPy accepts are read as their canonical form.
  EXPECT_EQ(Dtype::scalar_of("=f8").descr(), "'<f8'");
  EXPECT_EQ(Dtype::scalar_of("?").descr(), "'|b1'");
  EXPECT_EQ(Dtype::scalar_of("<i1").descr(), "'|i1'");
}

TEST(NpyHeader, EveryTruncationIsAFormatError) {
  const std::string header = lagoon::detail::make_npy_header(lagoon::detail::Dtype::scalar_of("<f8"), {7});
  for (std::size_t n = 0; n < header.size(); ++n)
    EXPECT_THROW((void)lagoon::detail::parse_npy_header(header.substr(0, n), "cut.npy"), lagoon::FormatError) << n;
}

TEST(NpyHeader, TimeUnitsAreNumpysOwn) {
  using lagoon::detail::Dtype;
  EXPECT_EQ(Dtype::scalar_of("<M8[10ms]").descr(), "'<M8[10ms]'");
  EXPECT_EQ(Dtype::scalar_of("<m8[D]").descr(), "'<m8[D]'");
  for (const char* bad : {"<M8[]", "<M8[xs]", "<M8[ 1\ns]", "<M8[01s]", "<M8[ns", "<M8"})
    EXPECT_THROW((void)Dtype::scalar_of(bad), lagoon::InvalidArgument) << bad;
}

TEST(NpyHeader, FieldNamesWithQuotesAndControlCharactersRoundTrip) {
  std::string dict = R"({'descr': [('a\nb', '<f8'), ("it's", '<i4'), ('back\\slash\x01', '|u1')], )"
                     R"('fortran_order': False, 'shape': (2,), })";
  dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  const std::string file = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(dict.size()) + '\0' + dict;
  const auto h = lagoon::detail::parse_npy_header(file, "names.npy");
  ASSERT_EQ(h.dtype.fields.size(), 3u);
  EXPECT_EQ(h.dtype.fields[0].name, "a\nb");
  EXPECT_EQ(h.dtype.fields[1].name, "it's");
  EXPECT_EQ(h.dtype.fields[2].name, std::string("back\\slash\x01"));
  const auto back = lagoon::detail::parse_npy_header(lagoon::detail::make_npy_header(h.dtype, h.shape), "again.npy");
  EXPECT_EQ(back.dtype.descr(), h.dtype.descr());
  EXPECT_EQ(back.dtype.fields[0].name, "a\nb");
}
