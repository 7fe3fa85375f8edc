# cmake -DLIBRARY=<shared library> -DHEADER=<multipass.h> -DNM=<nm>
#       [-DREADELF=<readelf>] -P check-exports.cmake
# Fails unless the library defines for the dynamic linker exactly the
# functions the header declares (all starting with multipass_), and unless it
# needs no shared spdlog or fmt. ELF only.
file(READ "${LIBRARY}" magic LIMIT 4 HEX)
if(NOT magic STREQUAL "7f454c46")
  message(FATAL_ERROR "not an ELF file: ${LIBRARY}")
endif()

execute_process(COMMAND "${NM}" -D --defined-only "${LIBRARY}"
                OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIBRARY}")
endif()
string(REPLACE "\n" ";" lines "${symbols}")
set(exported "")
set(foreign "")
foreach(line ${lines})
  # "<address> <type> <name>[@version]"
  if(NOT line MATCHES "^[0-9a-fA-F]+ [A-Za-z] ([^ ]+)$")
    continue()
  endif()
  set(name "${CMAKE_MATCH_1}")
  if(name MATCHES "^multipass_")
    list(APPEND exported "${name}")
  else()
    list(APPEND foreign "${name}")
  endif()
endforeach()
if(foreign)
  string(REPLACE ";" "\n  " foreign "${foreign}")
  message(FATAL_ERROR "symbols other than multipass_* exported:\n  ${foreign}")
endif()

file(READ "${HEADER}" header)
string(REGEX MATCHALL "MULTIPASS_API[^;(]*[ *](multipass_[a-z0-9_]+)\\(" declarations
       "${header}")
set(missing "")
set(declared 0)
foreach(declaration ${declarations})
  string(REGEX MATCH "(multipass_[a-z0-9_]+)\\($" unused "${declaration}")
  set(name "${CMAKE_MATCH_1}")
  math(EXPR declared "${declared} + 1")
  list(FIND exported "${name}" found)
  if(found EQUAL -1)
    list(APPEND missing "${name}")
  endif()
endforeach()
if(declared EQUAL 0)
  message(FATAL_ERROR "no MULTIPASS_API functions found in ${HEADER}")
endif()
if(missing)
  message(FATAL_ERROR "declared in the header but not exported: ${missing}")
endif()
list(LENGTH exported count)
if(NOT count EQUAL declared)
  message(FATAL_ERROR "${count} multipass_* symbols exported, "
                      "${declared} declared:\n${exported}")
endif()
message("${count} multipass_* symbols exported, as declared; nothing else")

if(READELF)
  execute_process(COMMAND "${READELF}" -d "${LIBRARY}"
                  OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND dynamic MATCHES "NEEDED[^\n]*lib(spdlog|fmt)")
    message(FATAL_ERROR "${LIBRARY} needs a shared spdlog or fmt:\n${dynamic}")
  endif()
endif()
