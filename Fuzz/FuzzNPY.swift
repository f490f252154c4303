import Foundation

/// Any bytes as a .npy file: a matrix of exactly rows x columns values, or an NPYError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    do {
        let matrix = try NPY.parse(inputData(start, count), file: inputName)
        if matrix.rows > 0 { _ = matrix.row(matrix.rows - 1) }
    } catch {
        expectNamed(error, inputName)
    }
    return 0
}
