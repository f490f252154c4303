import COpenBLAS

// Kernels module.
public func blasThreadCount() -> Int { Int(openblas_get_num_threads()) }
