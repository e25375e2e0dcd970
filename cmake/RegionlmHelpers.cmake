# regionlm_component(NAME <name> [DEPENDS <component>...])
#   An OBJECT library `regionlm_<name>` from src/<name>/*.cpp (src/*.cpp for "core").
#   The shared library `regionlm` is all components together; a component's tests may link
#   just the components they need, so one half-written component never blocks another's build.
function(regionlm_component)
  cmake_parse_arguments(ARG "" "NAME;DIR" "DEPENDS" ${ARGN})
  file(GLOB _srcs CONFIGURE_DEPENDS "${ARG_DIR}/*.cpp")
  add_library(regionlm_${ARG_NAME} OBJECT ${_srcs})
  regionlm_target_setup(regionlm_${ARG_NAME})
  foreach(dep IN LISTS ARG_DEPENDS)
    target_link_libraries(regionlm_${ARG_NAME} PUBLIC regionlm_${dep})
  endforeach()
  set_property(TARGET regionlm_${ARG_NAME} PROPERTY REGIONLM_DEPENDS ${ARG_DEPENDS})
  set_property(GLOBAL APPEND PROPERTY REGIONLM_COMPONENTS regionlm_${ARG_NAME})
endfunction()

# regionlm_link_components(<target> <component>...)
#   Links the components and everything they depend on. An OBJECT library's objects reach only
#   the targets that link it directly, so the whole dependency closure is linked explicitly.
function(regionlm_link_components target)
  set(_pending ${ARGN})
  set(_done)
  while(_pending)
    list(POP_FRONT _pending _c)
    if(_c IN_LIST _done)
      continue()
    endif()
    list(APPEND _done ${_c})
    get_target_property(_deps regionlm_${_c} REGIONLM_DEPENDS)
    if(_deps)
      list(APPEND _pending ${_deps})
    endif()
  endwhile()
  foreach(_c IN LISTS _done)
    target_link_libraries(${target} PRIVATE regionlm_${_c})
  endforeach()
endfunction()

# Common compile settings for library objects, tests and tools.
function(regionlm_target_setup target)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src ${SENTENCEPIECE_INCLUDE_DIR})
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_link_libraries(${target} PUBLIC torch ${OpenCV_LIBS} Threads::Threads
                                  PRIVATE nlohmann_json::nlohmann_json ${SENTENCEPIECE_LIBRARY})
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Winvalid-pch)
  if(REGIONLM_WITH_CUDA)
    target_compile_definitions(${target} PRIVATE REGIONLM_WITH_CUDA=1)
  endif()
  if(REGIONLM_PCH)
    # <torch/torch.h> costs ~30 s per translation unit. It is precompiled twice in all:
    # once for position-independent objects (the library parts, static helpers) by
    # regionlm_core, once for executables (-fPIE) by regionlm_exe_pch; every other target
    # reuses one of those, with the same flags.
    get_target_property(_type ${target} TYPE)
    if(_type STREQUAL "EXECUTABLE")
      set(_host regionlm_exe_pch)
    else()
      set(_host regionlm_core)
    endif()
    if(target STREQUAL _host)
      target_precompile_headers(${target} PRIVATE <torch/torch.h> <opencv2/core.hpp>)
    else()
      target_precompile_headers(${target} REUSE_FROM ${_host})
    endif()
  endif()
endfunction()

# regionlm_add_test(NAME <name> SOURCES <files...> [COMPONENTS <c>...] [LABELS <l>...]
#                   [TIMEOUT <s>])
#   A GoogleTest executable `test_<name>`; each TEST becomes a ctest test carrying LABELS.
#   COMPONENTS: the object libraries it links, with their dependencies (default: the whole
#   shared library).
function(regionlm_add_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SOURCES;COMPONENTS;LABELS" ${ARGN})
  add_executable(test_${ARG_NAME} ${ARG_SOURCES})
  regionlm_target_setup(test_${ARG_NAME})
  if(ARG_COMPONENTS)
    regionlm_link_components(test_${ARG_NAME} ${ARG_COMPONENTS})
  else()
    target_link_libraries(test_${ARG_NAME} PRIVATE regionlm)
  endif()
  target_link_libraries(test_${ARG_NAME} PRIVATE regionlm_test_util GTest::gtest_main GTest::gmock)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 1800)
  endif()
  set(_labels ${ARG_LABELS})
  if(NOT _labels)
    set(_labels unit)
  endif()
  # One LibTorch thread per test program: `ctest -j N` already runs N programs on N cores, and
  # two programs of two OpenMP threads each on two cores spin against each other (a test that
  # takes 26 s alone took 310 s so). A test that wants more threads sets them itself.
  gtest_discover_tests(test_${ARG_NAME} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 120
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} ENVIRONMENT OMP_NUM_THREADS=1)
  # Labels are set after discovery: gtest_discover_tests flattens a list-valued property
  # into separate arguments (LABELS "slow;parity" became LABELS slow plus a bogus property
  # "parity", dropping the second label and the TIMEOUT).
  set(_label_script "${CMAKE_CURRENT_BINARY_DIR}/test_${ARG_NAME}_labels.cmake")
  file(WRITE "${_label_script}"
    "foreach(_test IN LISTS test_${ARG_NAME}_TESTS)\n"
    "  set_tests_properties(\"\${_test}\" PROPERTIES LABELS \"${_labels}\")\n"
    "endforeach()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${_label_script}")
endfunction()
