import Foundation
import Testing
@testable import Formats

@Suite struct NPYTests {
    /// Builds a .npy file by hand, as numpy would, for any version and dtype.
    func npy(version: UInt8 = 1, descr: String = "<f4", fortran: Bool = false, shape: String = "(2, 3)", payload: Data) -> Data {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
        let lengthBytes = version == 1 ? 2 : 4
        let unpadded = 6 + 2 + lengthBytes + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [version, 0])
        let n = header.utf8.count
        for i in 0..<lengthBytes { data.append(UInt8((n >> (8 * i)) & 0xFF)) }
        data.append(Data(header.utf8))
        data.append(payload)
        return data
    }

    func floats(_ values: [Float]) -> Data {
        var data = Data()
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    @Test(arguments: [UInt8(1), 2, 3])
    func readsEveryHeaderVersion(version: UInt8) throws {
        let values: [Float] = [1, -2, 3.5, 0, 1e-3, 7]
        let m = try NPY.parse(npy(version: version, payload: floats(values)), file: "f.npy")
        #expect(m.rows == 2 && m.columns == 3)
        #expect(m.values == values)
    }

    @Test func readsFloat16() throws {
        let halves: [Float16] = [1, -0.5, 65504, 0.000061035156]
        var payload = Data()
        for h in halves { withUnsafeBytes(of: h.bitPattern.littleEndian) { payload.append(contentsOf: $0) } }
        let m = try NPY.parse(npy(descr: "<f2", shape: "(2, 2)", payload: payload), file: "f.npy")
        #expect(m.values == halves.map(Float.init))
    }

    @Test func writeThenReadRoundTrips() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID()).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        let m = FloatMatrix(rows: 3, columns: 2, values: [0.25, -1, .pi, 1e30, -0.0, 42])
        try NPY.write(m, to: url)
        let data = try Data(contentsOf: url)
        #expect(data.count % 64 == 0 || (data.count - 24) % 64 == 0)
        #expect(try NPY.read(url) == m)
    }

    @Test func refusesWhatItCannotRead() {
        let six = floats([1, 2, 3, 4, 5, 6])
        #expect(throws: NPYError.unsupportedDType(file: "f.npy", descr: "<f8")) {
            try NPY.parse(npy(descr: "<f8", payload: six + six), file: "f.npy")
        }
        #expect(throws: NPYError.unsupportedDType(file: "f.npy", descr: ">f4")) {
            try NPY.parse(npy(descr: ">f4", payload: six), file: "f.npy")
        }
        #expect(throws: NPYError.rank(file: "f.npy", shape: [6])) { try NPY.parse(npy(shape: "(6,)", payload: six), file: "f.npy") }
        #expect(throws: NPYError.rank(file: "f.npy", shape: [1, 2, 3])) { try NPY.parse(npy(shape: "(1, 2, 3)", payload: six), file: "f.npy") }
        #expect(throws: NPYError.fortranOrder(file: "f.npy")) { try NPY.parse(npy(fortran: true, payload: six), file: "f.npy") }
        #expect(throws: NPYError.dataSize(file: "f.npy", expected: 24, found: 20)) {
            try NPY.parse(npy(payload: six.prefix(20)), file: "f.npy")
        }
        #expect(throws: NPYError.dataSize(file: "f.npy", expected: 24, found: 28)) {
            try NPY.parse(npy(payload: six + floats([9])), file: "f.npy")
        }
        #expect(throws: NPYError.truncatedHeader(file: "f.npy")) { try NPY.parse(npy(payload: six).prefix(30), file: "f.npy") }
        #expect(throws: NPYError.notNPY(file: "f.npy")) { try NPY.parse(Data("class,split\n".utf8), file: "f.npy") }
        #expect(throws: NPYError.unsupportedVersion(file: "f.npy", major: 9, minor: 0)) {
            try NPY.parse(npy(version: 9, payload: six), file: "f.npy")
        }
    }

    @Test func messagesSayWhatToDo() {
        #expect(NPYError.unsupportedDType(file: "x.npy", descr: "<f8").description.contains("astype('float32')"))
        #expect(NPYError.dataSize(file: "x.npy", expected: 10, found: 4).description.contains("truncated"))
    }
}
