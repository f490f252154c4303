import Foundation
import Testing
import Formats

@Suite struct NullEncodingTests {
    struct Result: Codable, Equatable, EncodesNilAsNull {
        var name: String
        var accuracy: Double?
        var perStage: [Double?]
        var when: Date?
    }

    func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test func missingValuesAreWrittenAsNull() throws {
        let result = Result(name: "set1", accuracy: nil, perStage: [1.5, nil], when: nil)
        #expect(try json(result) == #"{"accuracy":null,"name":"set1","per_stage":[1.5,null],"when":null}"#)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        #expect(try decoder.decode(Result.self, from: Data(try json(result).utf8)) == result)
    }

    @Test func presentValuesAreWrittenAsSynthesisedEncodingWrites() throws {
        let result = Result(name: "set2", accuracy: 97.25, perStage: [], when: Date(timeIntervalSinceReferenceDate: 0))
        #expect(try json(result) == #"{"accuracy":97.25,"name":"set2","per_stage":[],"when":0}"#)
    }
}
