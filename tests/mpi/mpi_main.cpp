// The one main of lagoon's MPI tests: every rank runs every test, only world
// rank 0 prints the progress, other ranks print only their failures.
#include <mpi.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "support.hpp"

namespace lagoon::testing {
namespace {

Runtime* the_runtime = nullptr;
MPI_Comm results_comm = MPI_COMM_NULL;  // a duplicate: test traffic never mixes with it

/// Prints failed assertions of a non-root rank, prefixed with the rank.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.message());
  }

 private:
  int rank_;
};

}  // namespace

Runtime& runtime() { return *the_runtime; }

void MpiTest::TearDown() {
  int failed = HasFailure() ? 1 : 0;
  int size = 0;
  MPI_Comm_size(results_comm, &size);
  std::vector<int> all(static_cast<std::size_t>(size));
  MPI_Allgather(&failed, 1, MPI_INT, all.data(), 1, MPI_INT, results_comm);
  std::string ranks;
  for (int r = 0; r < size; ++r)
    if (all[static_cast<std::size_t>(r)]) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  if (!ranks.empty() && !failed) ADD_FAILURE() << "failed on world rank(s) " << ranks;
  if (!ranks.empty() && failed && runtime().rank() == 0) std::printf("    failed on world rank(s) %s\n", ranks.c_str());
}

std::size_t shm_entries(const Runtime& rt) {
  std::size_t n = 0;
  for (const auto* dir : {"/dev/shm", rt.settings().shm_dir.c_str()}) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec))
      ++n;
  }
  return n;
}

}  // namespace lagoon::testing

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  lagoon::testing::the_runtime = &rt;
  MPI_Comm_dup(rt.world(), &lagoon::testing::results_comm);
  ::testing::InitGoogleTest(&argc, argv);
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (rt.rank() != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new lagoon::testing::FailurePrinter(rt.rank()));
  } else {
    std::printf("lagoon tests: %d rank(s) on %d node(s) (LAGOON_RANKS_PER_NODE=%d), shared memory in %s%s\n", rt.size(),
                rt.node_count(), rt.settings().ranks_per_node, rt.settings().shm_dir.c_str(),
                rt.settings().huge_pages ? " (huge pages)" : "");
  }
  int status = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &status, 1, MPI_INT, MPI_MAX, rt.world());
  MPI_Comm_free(&lagoon::testing::results_comm);
  return status;
}
