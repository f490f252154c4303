// OpenBLAS's CBLAS interface (Debian: libopenblas-dev installs cblas.h on the
// default include path through its alternatives link).
#include <cblas.h>

// Declared by OpenBLAS; lets benchmarks and callers pin the thread count.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
