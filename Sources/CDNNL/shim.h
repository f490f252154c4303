// oneDNN's C API (Debian: libdnnl-dev), for the bf16 matrix products on CPUs with AVX512-BF16
// or AMX.
#include <oneapi/dnnl/dnnl.h>

// Debian's oneDNN runs its threads on libgomp; these pin that pool's size beside OpenBLAS's.
void omp_set_num_threads(int num_threads);
int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);

// libgomp's entry point for a parallel region (what `#pragma omp parallel` compiles to, part of
// its ABI since GCC 4.9): runs fn(data) on a team of num_threads threads, the caller among them.
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned int flags);
