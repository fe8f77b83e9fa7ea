# How lagoon's tests, examples and benchmarks start programs under mpirun.
# lagoon_mpi_command(<out-var> NP <n> [RANKS_PER_NODE <k>] [TCP] [ENV NAME=VALUE...] COMMAND <cmd...>)
# builds the command line; lagoon_add_mpi_test() adds a rank matrix to CTest.

set(LAGOON_MPIEXEC_PREFLAGS "--oversubscribe" CACHE STRING "Flags mpirun gets before the program")
execute_process(COMMAND id -u OUTPUT_VARIABLE _lagoon_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_lagoon_uid STREQUAL "0" AND NOT LAGOON_MPIEXEC_PREFLAGS MATCHES "allow-run-as-root")
  set(LAGOON_MPIEXEC_PREFLAGS "--allow-run-as-root;${LAGOON_MPIEXEC_PREFLAGS}")
endif()

function(lagoon_mpi_command out)
  cmake_parse_arguments(arg "TCP" "NP;RANKS_PER_NODE" "COMMAND;ENV" ${ARGN})
  set(cmd ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${arg_NP} ${LAGOON_MPIEXEC_PREFLAGS})
  if(arg_TCP)
    list(APPEND cmd --mca btl self,tcp)
  endif()
  if(arg_RANKS_PER_NODE)
    list(APPEND cmd -x LAGOON_RANKS_PER_NODE=${arg_RANKS_PER_NODE})
  endif()
  foreach(setting IN LISTS arg_ENV)
    list(APPEND cmd -x ${setting})
  endforeach()
  list(APPEND cmd ${MPIEXEC_PREFLAGS} ${arg_COMMAND} ${MPIEXEC_POSTFLAGS})
  set(${out} ${cmd} PARENT_SCOPE)
endfunction()

# lagoon_add_mpi_test(<target> RANKS <n...> [NODES <np>:<k> ...] [SERIAL] [TIMEOUT s]
#                     [ENV NAME=VALUE...] [SUFFIX s] [ARGS ...])
# adds <target>.<n> for each rank count, <target>.<np>x<k>tcp for each
# cross-node layout (np ranks in virtual nodes of k, over TCP), and
# <target>.serial (started without mpirun) when SERIAL is given. ENV settings
# reach every rank (mpirun -x); SUFFIX tells such variants apart.
function(lagoon_add_mpi_test target)
  cmake_parse_arguments(arg "SERIAL" "TIMEOUT;SUFFIX" "RANKS;NODES;ARGS;LABELS;ENV" ${ARGN})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  set(suffix "")
  if(arg_SUFFIX)
    set(suffix ".${arg_SUFFIX}")
  endif()
  foreach(np IN LISTS arg_RANKS)
    lagoon_mpi_command(cmd NP ${np} ENV ${arg_ENV} COMMAND $<TARGET_FILE:${target}> ${arg_ARGS})
    add_test(NAME ${target}.${np}${suffix} COMMAND ${cmd})
    set_tests_properties(${target}.${np}${suffix} PROPERTIES TIMEOUT ${arg_TIMEOUT} PROCESSORS ${np}
                         LABELS "mpi;${arg_LABELS}")
  endforeach()
  foreach(layout IN LISTS arg_NODES)
    string(REPLACE ":" ";" parts ${layout})
    list(GET parts 0 np)
    list(GET parts 1 k)
    lagoon_mpi_command(cmd NP ${np} RANKS_PER_NODE ${k} TCP ENV ${arg_ENV} COMMAND $<TARGET_FILE:${target}> ${arg_ARGS})
    add_test(NAME ${target}.${np}x${k}tcp${suffix} COMMAND ${cmd})
    set_tests_properties(${target}.${np}x${k}tcp${suffix} PROPERTIES TIMEOUT ${arg_TIMEOUT} PROCESSORS ${np}
                         LABELS "mpi;cross-node;${arg_LABELS}")
  endforeach()
  if(arg_SERIAL)
    add_test(NAME ${target}.serial COMMAND $<TARGET_FILE:${target}> ${arg_ARGS})
    set_tests_properties(${target}.serial PROPERTIES TIMEOUT ${arg_TIMEOUT} LABELS "serial;${arg_LABELS}"
      ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;${arg_ENV}")
  endif()
endfunction()
