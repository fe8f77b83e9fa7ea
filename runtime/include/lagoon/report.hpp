// A memory report for batch jobs' logs: one line per node, as `ray memory` gives Ray's users.
#pragma once

#include <string>

#include "lagoon/runtime.hpp"

namespace lagoon {

/// One line per node: the PSS of the node's ranks together (shared pages split among
/// the processes that map them, so a node array counts once), then each live
/// ObjectStore's arena on that node (capacity, used, objects owned and their bytes,
/// cached copies, fetches, evictions). World rank 0 prints it to stdout and returns it;
/// the other ranks return an empty string. @note collective over the world
///
/// **Example** (at the end of a job): `lagoon::report(rt);` prints
///   lagoon report: node 0 (h0, 2 ranks): PSS 1.53 GiB | store 1: arena 1.00 GiB, used 8.06 MiB, 1 object (8.00 MiB), 0 cached, 0 fetches, 0 evictions
std::string report(const Runtime& rt);

}  // namespace lagoon
