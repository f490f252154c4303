// oneDNN's C API (Debian: libdnnl-dev), for the bf16 matrix products on CPUs with AVX512-BF16
// or AMX.
#include <oneapi/dnnl/dnnl.h>

// Debian's oneDNN runs its threads on libgomp; these pin that pool's size beside OpenBLAS's.
void omp_set_num_threads(int num_threads);
int omp_get_max_threads(void);
