# The Python module `regionlm` (python/): built when the venv's Python has nanobind, which
# scripts/requirements.txt installs. Under `pip install .` scikit-build-core supplies the
# interpreter (Python_EXECUTABLE) and nanobind comes from pyproject.toml's build requirements.
if(NOT SKBUILD AND NOT Python_EXECUTABLE AND EXISTS "${REGIONLM_PYTHON}")
  set(Python_EXECUTABLE "${REGIONLM_PYTHON}")
endif()
set(_regionlm_python_found OFF)
if(Python_EXECUTABLE)
  find_package(Python 3.9 COMPONENTS Interpreter Development.Module)
  if(Python_FOUND)
    execute_process(COMMAND "${Python_EXECUTABLE}" -m nanobind --cmake_dir
                    OUTPUT_VARIABLE _regionlm_nanobind_dir OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _regionlm_nanobind_rc ERROR_QUIET)
    if(_regionlm_nanobind_rc EQUAL 0)
      set(_regionlm_python_found ON)
    endif()
  endif()
endif()
option(REGIONLM_BUILD_PYTHON "Build the Python module (nanobind), ON when the venv has nanobind"
       ${_regionlm_python_found})
if(REGIONLM_BUILD_PYTHON)
  if(NOT _regionlm_python_found)
    message(FATAL_ERROR "REGIONLM_BUILD_PYTHON: no Python with nanobind (${Python_EXECUTABLE}); run scripts/setup.sh")
  endif()
  list(APPEND CMAKE_PREFIX_PATH "${_regionlm_nanobind_dir}")
  find_package(nanobind CONFIG REQUIRED)
  message(STATUS "regionlm: Python module for ${Python_EXECUTABLE} (nanobind ${nanobind_VERSION})")
else()
  message(STATUS "regionlm: Python module not built (no nanobind in ${REGIONLM_PYTHON})")
endif()
