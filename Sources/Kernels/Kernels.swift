import COpenBLAS

// Kernels module: layer forward/backward functions (Layers.swift, Attention.swift,
// BidirectionalAttention.swift) over flat Float buffers, with every large product through
// OpenBLAS's cblas_sgemm, or in bf16 through oneDNN (BF16.swift).

public func blasThreadCount() -> Int { Int(openblas_get_num_threads()) }

/// Pins the thread count of OpenBLAS and of oneDNN (bf16) (benchmarks compare against
/// references on the same cores).
public func setBLASThreadCount(_ count: Int) {
    openblas_set_num_threads(Int32(count))
    setBF16ThreadCount(count)
}
