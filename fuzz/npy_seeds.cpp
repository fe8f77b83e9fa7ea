// Writes the seed corpus of the .npy header fuzz target: headers as NumPy writes
// them, for plain, string, time and record dtypes, in format versions 1.0 and 2.0.
#include <fstream>
#include <string>
#include <vector>

#include "lagoon/detail/dtype.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  using lagoon::detail::Dtype;
  using lagoon::detail::Field;
  std::vector<Dtype> dtypes;
  for (const char* scalar : {"<f8", "|b1", "<i2", "|S6", "<M8[ns]", "<c16", "<U3"})
    dtypes.push_back(Dtype::scalar_of(scalar));
  Dtype record;
  record.fields = {Field{"when", Dtype::scalar_of("<M8[ns]"), {}}, Field{"price", Dtype::scalar_of("<f8"), {}},
                   Field{"code", Dtype::scalar_of("|S6"), {}}, Field{"", Dtype::scalar_of("|V2"), {}},
                   Field{"xyz", Dtype::scalar_of("<f4"), {3}}};
  record.itemsize = 8 + 8 + 6 + 2 + 12;
  dtypes.push_back(record);
  Dtype nested;
  nested.fields = {Field{"inner", record, {2, 2}}, Field{"n", Dtype::scalar_of("<i8"), {}}};
  nested.itemsize = record.itemsize * 4 + 8;
  dtypes.push_back(nested);
  int n = 0;
  for (const Dtype& d : dtypes)
    for (const std::vector<std::size_t>& shape : {std::vector<std::size_t>{10}, std::vector<std::size_t>{3, 4, 0}}) {
      std::string header = lagoon::detail::make_npy_header(d, shape);
      std::ofstream(std::string(argv[1]) + "/seed" + std::to_string(n++), std::ios::binary) << header;
      header[6] = 2;  // the same dict in a 2.0 header: a 4-byte length
      header.insert(10, 2, '\0');
      std::ofstream(std::string(argv[1]) + "/seed" + std::to_string(n++), std::ios::binary) << header;
    }
  return 0;
}
