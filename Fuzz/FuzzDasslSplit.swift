import Foundation

/// Any bytes as a CoOp/Dassl split file: a split whose items agree with its class names, or a
/// DasslSplitError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    do {
        let split = try DasslSplit.parse(inputData(start, count), file: inputName)
        for item in split.items.values.joined() where split.classNames[item.label] != item.className {
            fatalError("item \(item.path) has label \(item.label) and class \(item.className)")
        }
        let stages = split.stages
        if stages.set1.count + stages.set2.count != split.labels.count {
            fatalError("the two stages do not partition the labels")
        }
    } catch {
        expectNamed(error, inputName)
    }
    return 0
}
