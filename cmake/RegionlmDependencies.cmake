# Locates the libraries regionlm builds against.
#
# LibTorch: by default the one inside the project venv's `torch` wheel
# (`torch.utils.cmake_prefix_path`). To use another LibTorch (e.g. a CUDA build
# unpacked from pytorch.org), pass -DTorch_DIR=/path/libtorch/share/cmake/Torch or put it on
# CMAKE_PREFIX_PATH; the venv is then not consulted.
set(REGIONLM_PYTHON "${PROJECT_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
    "Python interpreter of the venv (reference implementations for tests; LibTorch location)")

if(NOT Torch_DIR AND EXISTS "${REGIONLM_PYTHON}")
  execute_process(
    COMMAND "${REGIONLM_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _regionlm_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _regionlm_torch_rc)
  if(_regionlm_torch_rc EQUAL 0)
    list(APPEND CMAKE_PREFIX_PATH "${_regionlm_torch_prefix}")
  endif()
endif()

# A CUDA LibTorch looks for a CUDA toolkit to compile against. The wheel is built with CUDA
# 13.0 (torch 2.14.1), the toolkit in /usr/local/cuda is 13.0: headers match the runtime the
# wheel bundles. Without a toolkit, configure with a CPU LibTorch instead.
if(NOT DEFINED CUDAToolkit_ROOT AND EXISTS "/usr/local/cuda/bin/nvcc")
  set(CUDAToolkit_ROOT "/usr/local/cuda")
endif()
# No GPU at configure time (CI): name the architectures instead of probing for a device.
if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT TORCH_CUDA_ARCH_LIST)
  set(TORCH_CUDA_ARCH_LIST "8.0;8.6;8.9;9.0" CACHE STRING "CUDA architectures for nvcc flags")
endif()
find_package(Torch REQUIRED)
# The CUDA wheel's libtorch_cuda.so finds the NCCL/cuDNN/... it was built with in
# site-packages/nvidia/*/lib through its RPATH, but Torch's CMake puts /usr/local/cuda/lib on
# every executable's rpath and GNU ld resolves libnccl.so.2 there first (the toolkit's older
# NCCL: "undefined reference to ncclCommSuspend"). -rpath-link wins at link time; at run
# time libtorch_cuda's own RPATH already picks the wheel's copies.
file(GLOB _regionlm_wheel_libs LIST_DIRECTORIES true "${TORCH_INSTALL_PREFIX}/../nvidia/*/lib")
if(_regionlm_wheel_libs)
  list(JOIN _regionlm_wheel_libs ":" _regionlm_wheel_libs)
  set_property(TARGET torch APPEND PROPERTY INTERFACE_LINK_OPTIONS "LINKER:-rpath-link,${_regionlm_wheel_libs}")
endif()
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(Threads REQUIRED)

find_path(SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h REQUIRED)
find_library(SENTENCEPIECE_LIBRARY sentencepiece REQUIRED)

# Whether the LibTorch found has CUDA: CUDA-specific code (streams, device guards) is then
# compiled in (REGIONLM_WITH_CUDA=1) even when this machine has no GPU to run it.
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(REGIONLM_WITH_CUDA ON)
else()
  set(REGIONLM_WITH_CUDA OFF)
endif()
message(STATUS "regionlm: Torch ${Torch_VERSION} (${Torch_DIR}), CUDA code: ${REGIONLM_WITH_CUDA}")
