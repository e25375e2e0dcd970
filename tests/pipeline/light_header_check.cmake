# A translation unit that includes only `HEADER` compiles on its own and pulls in neither the
# decoder's headers nor LibTorch's: what a caller that only handles results (e.g. a server
# formatting answers) pays to include it. Run by ctest as `cmake -P` with -DCXX, -DINCLUDE_DIR,
# -DHEADER, -DWORK_DIR.
file(MAKE_DIRECTORY "${WORK_DIR}")
set(_source "${WORK_DIR}/light_header.cpp")
file(WRITE "${_source}" "#include \"${HEADER}\"\nint main() { regionlm::Answer answer; return static_cast<int>(answer.text.size()); }\n")
execute_process(COMMAND "${CXX}" -std=c++20 -I "${INCLUDE_DIR}" -M "${_source}"
                RESULT_VARIABLE _status OUTPUT_VARIABLE _deps ERROR_VARIABLE _errors)
if(NOT _status EQUAL 0)
  message(FATAL_ERROR "${HEADER} does not compile on its own:\n${_errors}")
endif()
foreach(_forbidden "regionlm/llm/" "torch/" "ATen/" "c10/")
  string(FIND "${_deps}" "${_forbidden}" _at)
  if(NOT _at EQUAL -1)
    message(FATAL_ERROR "including only ${HEADER} pulls in ${_forbidden} headers:\n${_deps}")
  endif()
endforeach()
execute_process(COMMAND "${CXX}" -std=c++20 -I "${INCLUDE_DIR}" -fsyntax-only "${_source}"
                RESULT_VARIABLE _status ERROR_VARIABLE _errors)
if(NOT _status EQUAL 0)
  message(FATAL_ERROR "${HEADER} does not compile on its own:\n${_errors}")
endif()
string(REGEX MATCHALL "regionlm/[a-z_/]+\\.hpp" _included "${_deps}")
list(REMOVE_DUPLICATES _included)
message(STATUS "${HEADER} includes only: ${_included}")
