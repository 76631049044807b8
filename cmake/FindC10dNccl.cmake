# Data-parallel training of CUDA models (native/process_group.cc) needs c10d's
# NCCL group: ProcessGroupNCCL.hpp from libtorch, a libtorch built with it
# (libtorch_cuda exports ProcessGroupNCCL), nccl.h, and the CUDA headers that
# ProcessGroupNCCL.hpp includes (cuda_runtime_api.h, cublas_v2.h, cusparse.h,
# cusolverDn.h). Pip wheels keep nccl.h in site-packages/nvidia/nccl/include
# (CUDA 13: also nvidia/cu13/include) and the CUDA headers in nvidia/cu13/include
# or the toolkit. Found: that one file is compiled with
# -DEMBEDDINGS_TORCH_C10D_NCCL and -DUSE_C10D_NCCL (the c10d header's own
# guard). Not found: CUDA models cannot train data-parallel and
# lib/training/distributed/support.ts says so; CPU data-parallel (Gloo) is
# unaffected. Written against libtorch 2.x: a 1.x libtorch leaves it out
# (native/process_group.cc).
set(_et_nccl_why "")
find_path(EMBEDDINGS_TORCH_C10D_NCCL_HEADER torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp
  PATHS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH)
get_filename_component(_et_torch_lib "${TORCH_LIBRARY}" DIRECTORY)
find_library(EMBEDDINGS_TORCH_TORCH_CUDA_LIBRARY torch_cuda PATHS "${_et_torch_lib}" NO_DEFAULT_PATH)
if(NOT EMBEDDINGS_TORCH_C10D_NCCL_HEADER)
  set(_et_nccl_why "libtorch has no ProcessGroupNCCL.hpp")
elseif(NOT EMBEDDINGS_TORCH_TORCH_CUDA_LIBRARY)
  set(_et_nccl_why "libtorch is a CPU build (no libtorch_cuda in ${_et_torch_lib})")
else()
  # nm -D reads only the dynamic symbol table (fast on a 1 GB library).
  execute_process(COMMAND nm -D --defined-only "${EMBEDDINGS_TORCH_TORCH_CUDA_LIBRARY}"
    COMMAND grep -c "c10d16ProcessGroupNCCL"
    OUTPUT_VARIABLE _et_nccl_symbols OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT _et_nccl_symbols GREATER 0)
    set(_et_nccl_why "${EMBEDDINGS_TORCH_TORCH_CUDA_LIBRARY} exports no c10d::ProcessGroupNCCL (libtorch built without NCCL, or no nm to tell)")
  endif()
endif()

set(_et_nccl_hints ${TORCH_INCLUDE_DIRS} ${CUDAToolkit_INCLUDE_DIRS} ${CUDA_INCLUDE_DIRS} $ENV{NCCL_INCLUDE_DIR}
  "${TORCH_INSTALL_PREFIX}/../nvidia/nccl/include" "${TORCH_INSTALL_PREFIX}/../nvidia/cu13/include"
  "${TORCH_INSTALL_PREFIX}/../nvidia/cu12/include" "${TORCH_INSTALL_PREFIX}/../nvidia/cuda_runtime/include"
  "${TORCH_INSTALL_PREFIX}/../nvidia/cublas/include" "${TORCH_INSTALL_PREFIX}/../nvidia/cusparse/include"
  "${TORCH_INSTALL_PREFIX}/../nvidia/cusolver/include" /usr/local/cuda/include)
set(_et_nccl_dirs "")
if(_et_nccl_why STREQUAL "")
  foreach(_header nccl.h cuda_runtime_api.h cublas_v2.h cusparse.h cusolverDn.h)
    string(MAKE_C_IDENTIFIER "EMBEDDINGS_TORCH_INCLUDE_${_header}" _var)
    find_path(${_var} ${_header} PATHS ${_et_nccl_hints})
    if(NOT ${_var})
      set(_et_nccl_why "${_header} not found (looked in libtorch's and CUDA's include folders, site-packages/nvidia/*/include, NCCL_INCLUDE_DIR)")
      break()
    endif()
    get_filename_component(_dir "${${_var}}" REALPATH)
    if(NOT _dir MATCHES "^/usr(/local)?/include$")  # -I/usr/include breaks libstdc++'s #include_next
      list(APPEND _et_nccl_dirs "${_dir}")
    endif()
  endforeach()
endif()

if(_et_nccl_why STREQUAL "" AND Torch_VERSION VERSION_LESS 2)
  set(_et_nccl_why "libtorch ${Torch_VERSION} is 1.x; the NCCL code was written against the 2.x API")
endif()

if(_et_nccl_why STREQUAL "")
  set_property(SOURCE ${CMAKE_SOURCE_DIR}/native/process_group.cc APPEND PROPERTY
    COMPILE_DEFINITIONS EMBEDDINGS_TORCH_C10D_NCCL USE_C10D_NCCL)
  list(REMOVE_DUPLICATES _et_nccl_dirs)
  if(_et_nccl_dirs)
    set_property(SOURCE ${CMAKE_SOURCE_DIR}/native/process_group.cc APPEND PROPERTY INCLUDE_DIRECTORIES ${_et_nccl_dirs})
  endif()
  message(STATUS "embeddings-torch: c10d NCCL found (${EMBEDDINGS_TORCH_TORCH_CUDA_LIBRARY} exports ProcessGroupNCCL; nccl.h in ${EMBEDDINGS_TORCH_INCLUDE_nccl_h}): data-parallel training of CUDA models built (native/process_group.cc with -DEMBEDDINGS_TORCH_C10D_NCCL -DUSE_C10D_NCCL)")
else()
  message(STATUS "embeddings-torch: c10d NCCL left out (${_et_nccl_why}): CUDA models cannot train data-parallel with this build")
endif()
