import Foundation

/// Any bytes as a CSV file: a table whose records all have the header's width, or a CSVError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    do {
        let table = try CSV.parse(inputData(start, count), file: inputName)
        for record in table.records where record.fields.count != table.header.count {
            fatalError("record on line \(record.line) has \(record.fields.count) fields, the header \(table.header.count)")
        }
    } catch {
        expectNamed(error, inputName)
    }
    return 0
}
