# cmake -P script run by the `package.find_package` test (see CMakeLists.txt here).
# Inputs: REGIONLM_BUILD_DIR, DOWNSTREAM_SOURCE_DIR, WORK_DIR, CXX_COMPILER, BUILD_TYPE.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package test: ${what} failed (${rc}):\n${out}")
  endif()
  message(STATUS "package test: ${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

# Everything `cmake --install` installs (library, examples) must exist: build the default
# target, a no-op under `make test`, which builds everything before running the tests.
run_step("build" ${CMAKE_COMMAND} --build "${REGIONLM_BUILD_DIR}")
run_step("install" ${CMAKE_COMMAND} --install "${REGIONLM_BUILD_DIR}" --prefix "${prefix}")
# Only the prefix is given: Torch and OpenCV must be found through regionlmConfig.cmake.
run_step("configure downstream" ${CMAKE_COMMAND} -S "${DOWNSTREAM_SOURCE_DIR}" -B "${WORK_DIR}/build"
         -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
         -DCMAKE_PREFIX_PATH=${prefix})
run_step("build downstream" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run_step("run downstream" "${WORK_DIR}/build/downstream" "${WORK_DIR}/tiny.safetensors")
if(NOT step_output MATCHES "regionlm [0-9]+\\.[0-9]+\\.[0-9]+: loaded 2 tensors, w = 0 1 2 3 4 5")
  message(FATAL_ERROR "package test: unexpected output from downstream:\n${step_output}")
endif()
