# Packed-weight GEMMs for CPU inference (native/models/onednn_matmul.cc) call
# oneDNN directly: the same libdnnl.so.2 that libtorch links (Debian's
# libtorch1.13 depends on libdnnl2; its headers are in libdnnl-dev). Only where
# libtorch_cpu itself links a shared libdnnl: pip's libtorch has oneDNN inside
# with its symbols hidden, and a second oneDNN with another OpenMP runtime
# beside it would fight it for the cores. Not found: the addon builds without
# it and inference GEMMs stay on at::addmm (runtimeInfo().inferenceGemm says which;
# where it is found, native/models/inference_path.h decides when it serves).
get_filename_component(EMBEDDINGS_TORCH_TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)
find_path(EMBEDDINGS_TORCH_DNNL_INCLUDE oneapi/dnnl/dnnl.hpp PATHS ${TORCH_INCLUDE_DIRS})
find_library(EMBEDDINGS_TORCH_DNNL_LIBRARY NAMES dnnl libdnnl.so.2 PATHS ${EMBEDDINGS_TORCH_TORCH_LIB_DIR})
set(EMBEDDINGS_TORCH_TORCH_NEEDS_DNNL OFF)
find_program(EMBEDDINGS_TORCH_READELF readelf)
if(EMBEDDINGS_TORCH_READELF AND EXISTS "${EMBEDDINGS_TORCH_TORCH_LIB_DIR}/libtorch_cpu.so")
  execute_process(COMMAND ${EMBEDDINGS_TORCH_READELF} -d "${EMBEDDINGS_TORCH_TORCH_LIB_DIR}/libtorch_cpu.so"
    OUTPUT_VARIABLE EMBEDDINGS_TORCH_TORCH_DYNAMIC ERROR_QUIET)
  if(EMBEDDINGS_TORCH_TORCH_DYNAMIC MATCHES "NEEDED[^\n]*libdnnl\\.so")
    set(EMBEDDINGS_TORCH_TORCH_NEEDS_DNNL ON)
  endif()
endif()
if(EMBEDDINGS_TORCH_DNNL_INCLUDE AND EMBEDDINGS_TORCH_DNNL_LIBRARY AND EMBEDDINGS_TORCH_TORCH_NEEDS_DNNL)
  set_source_files_properties(${CMAKE_SOURCE_DIR}/native/models/onednn_matmul.cc PROPERTIES
    COMPILE_DEFINITIONS "EMBEDDINGS_TORCH_ONEDNN")
  target_link_libraries(${PROJECT_NAME} PRIVATE ${EMBEDDINGS_TORCH_DNNL_LIBRARY})
  message(STATUS "embeddings-torch: oneDNN found (${EMBEDDINGS_TORCH_DNNL_INCLUDE}, ${EMBEDDINGS_TORCH_DNNL_LIBRARY}, linked by libtorch_cpu): built in (-DEMBEDDINGS_TORCH_ONEDNN); inference GEMMs use it where its kernel packs weights (README \"Inference path\")")
else()
  message(STATUS "embeddings-torch: oneDNN left out (headers: ${EMBEDDINGS_TORCH_DNNL_INCLUDE}, library: ${EMBEDDINGS_TORCH_DNNL_LIBRARY}, libtorch_cpu links libdnnl: ${EMBEDDINGS_TORCH_TORCH_NEEDS_DNNL}): inference GEMMs on at::addmm (on AVX-512/AMX CPUs oneDNN packs weights once: on Debian apt-get install libdnnl-dev and rebuild)")
endif()
