import Foundation

/// Any bytes as a safetensors file: the reader maps a file, so the input is written to one.
/// Every tensor of a file that opens must be readable with the accessor of its dtype.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let url = scratchFile("\(inputName).safetensors")
    writeScratch(inputData(start, count), to: url)
    do {
        let file = try SafetensorsFile(url: url)
        for name in file.tensorNames {
            let info = try file.info(name)
            let values = info.dtype.isFloatingPoint ? try file.floats(name).count : try file.integers(name).count
            if values != info.elementCount {
                fatalError("tensor \(name): \(values) values for shape \(info.shape)")
            }
        }
    } catch {
        expectNamed(error, url.path)
    }
    return 0
}
