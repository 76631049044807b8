# libtorch discovery, in this order:
#   1. LIBTORCH (a libtorch distribution root) or Torch_DIR in the environment
#   2. a Python with torch (EMBEDDINGS_TORCH_PYTHON, else python3 on PATH, else /usr/bin/python3):
#      torch.utils.cmake_prefix_path
#   3. the system (Debian's libtorch-dev)
# CMAKE_PREFIX_PATH given on the command line (cmake-js --CDCMAKE_PREFIX_PATH=...) wins over 2 and 3.
set(EMBEDDINGS_TORCH_SOURCE "")
if(DEFINED ENV{LIBTORCH} AND NOT "$ENV{LIBTORCH}" STREQUAL "")
  list(PREPEND CMAKE_PREFIX_PATH "$ENV{LIBTORCH}")
  set(EMBEDDINGS_TORCH_SOURCE "LIBTORCH=$ENV{LIBTORCH}")
elseif(DEFINED ENV{Torch_DIR} AND NOT "$ENV{Torch_DIR}" STREQUAL "")
  set(Torch_DIR "$ENV{Torch_DIR}")
  set(EMBEDDINGS_TORCH_SOURCE "Torch_DIR=$ENV{Torch_DIR}")
elseif(CMAKE_PREFIX_PATH)
  set(EMBEDDINGS_TORCH_SOURCE "CMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH}")
else()
  set(_candidates "$ENV{EMBEDDINGS_TORCH_PYTHON}" python3 /usr/bin/python3)
  foreach(_py IN LISTS _candidates)
    if(_py STREQUAL "")
      continue()
    endif()
    execute_process(COMMAND ${_py} -c "import torch, sys; sys.stdout.write(torch.utils.cmake_prefix_path)"
      RESULT_VARIABLE _rc OUTPUT_VARIABLE _prefix ERROR_QUIET)
    if(_rc EQUAL 0 AND IS_DIRECTORY "${_prefix}/Torch")
      list(PREPEND CMAKE_PREFIX_PATH "${_prefix}")
      set(EMBEDDINGS_TORCH_SOURCE "python torch (${_py}): ${_prefix}")
      break()
    endif()
  endforeach()
endif()
if(EMBEDDINGS_TORCH_SOURCE STREQUAL "")
  set(EMBEDDINGS_TORCH_SOURCE "system")
endif()

find_package(Torch REQUIRED)
message(STATUS "embeddings-torch: libtorch ${Torch_VERSION} from ${EMBEDDINGS_TORCH_SOURCE} (${TORCH_INSTALL_PREFIX})")
