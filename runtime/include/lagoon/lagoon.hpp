// lagoon: node-shared arrays and objects for MPI programs. Include this one header.
#pragma once

#include "lagoon/algorithms.hpp"
#include "lagoon/column.hpp"
#include "lagoon/error.hpp"
#include "lagoon/global_array.hpp"
#include "lagoon/memory.hpp"
#include "lagoon/mpi.hpp"
#include "lagoon/npy.hpp"
#include "lagoon/object_store.hpp"
#include "lagoon/record.hpp"
#include "lagoon/runtime.hpp"
#include "lagoon/segment.hpp"
#include "lagoon/shareable.hpp"
#include "lagoon/shared_array.hpp"
#include "lagoon/shared_map.hpp"
#include "lagoon/store_stats.hpp"
#include "lagoon/task_pool.hpp"
