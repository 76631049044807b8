# Data-parallel training (native/process_group.cc) needs c10d's Gloo headers:
# ProcessGroupGloo.hpp from libtorch and gloo/ from Gloo itself. Debian's
# libtorch-dev ships the first but does not depend on libgloo-dev, and pip
# wheels may lack include/gloo. Found: that one file is compiled with
# -DEMBEDDINGS_TORCH_C10D_GLOO and -DUSE_C10D_GLOO (the c10d header's own
# guard; Torch's CMake config may define it everywhere anyway, gloo/ or not). Not found: the addon builds
# without it and reports data-parallel training of CPU models unavailable (CUDA models
# need NCCL instead: cmake/FindC10dNccl.cmake). Nothing here
# needs reducer.hpp (gradients are allreduced in flat buckets after backward),
# so no shim for its missing distributed-autograd header.
find_path(EMBEDDINGS_TORCH_C10D_GLOO_INCLUDE torch/csrc/distributed/c10d/ProcessGroupGloo.hpp
  PATHS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH)
find_path(EMBEDDINGS_TORCH_GLOO_INCLUDE gloo/algorithm.h PATHS ${TORCH_INCLUDE_DIRS})
if(EMBEDDINGS_TORCH_C10D_GLOO_INCLUDE AND EMBEDDINGS_TORCH_GLOO_INCLUDE)
  set_source_files_properties(${CMAKE_SOURCE_DIR}/native/process_group.cc PROPERTIES
    COMPILE_DEFINITIONS "EMBEDDINGS_TORCH_C10D_GLOO;USE_C10D_GLOO")
  if(NOT EMBEDDINGS_TORCH_GLOO_INCLUDE MATCHES "^/usr(/local)?/include$")  # -I/usr/include breaks libstdc++'s #include_next
    set_property(SOURCE ${CMAKE_SOURCE_DIR}/native/process_group.cc APPEND PROPERTY INCLUDE_DIRECTORIES "${EMBEDDINGS_TORCH_GLOO_INCLUDE}")
  endif()
  message(STATUS "embeddings-torch: c10d Gloo headers found (${EMBEDDINGS_TORCH_C10D_GLOO_INCLUDE}, gloo in ${EMBEDDINGS_TORCH_GLOO_INCLUDE}): data-parallel training built (native/process_group.cc with -DEMBEDDINGS_TORCH_C10D_GLOO -DUSE_C10D_GLOO)")
else()
  message(STATUS "embeddings-torch: c10d Gloo headers missing (ProcessGroupGloo.hpp: ${EMBEDDINGS_TORCH_C10D_GLOO_INCLUDE}, gloo/algorithm.h: ${EMBEDDINGS_TORCH_GLOO_INCLUDE}): data-parallel training of CPU models left out of this build; on Debian apt-get install libgloo-dev and rebuild")
endif()
