import COpenBLAS

// Kernels module: layer forward/backward functions (Layers.swift, Attention.swift,
// BidirectionalAttention.swift) over flat Float buffers, with every large product through
// OpenBLAS's cblas_sgemm.

public func blasThreadCount() -> Int { Int(openblas_get_num_threads()) }

/// Pins OpenBLAS's thread count (benchmarks compare against references on the same cores).
public func setBLASThreadCount(_ count: Int) { openblas_set_num_threads(Int32(count)) }
