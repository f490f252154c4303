import Foundation
import Testing
@testable import Formats

@Suite struct CSVTests {
    func parse(_ text: String) throws -> CSVTable { try CSV.parse(Data(text.utf8), file: "t.csv") }

    @Test func quotedFieldsHoldCommasQuotesAndLineBreaks() throws {
        let table = try parse("class,split\n\"hen, brown\",train\n\"the \"\"big\"\" cat\",test\n\"two\nlines\",val\n")
        #expect(table.header == ["class", "split"])
        #expect(table.records.map(\.fields) == [["hen, brown", "train"], ["the \"big\" cat", "test"], ["two\nlines", "val"]])
        #expect(table.records.map(\.line) == [2, 3, 4])
        #expect(table.records.map(\.row) == [1, 2, 3])
    }

    @Test func byteOrderMarkAndCRLFAndNoFinalNewline() throws {
        var data = Data([0xEF, 0xBB, 0xBF])
        data.append(Data("class,split\r\ncafé,train\r\n\"a\r\nb\",test".utf8))
        let table = try CSV.parse(data, file: "t.csv")
        #expect(table.header == ["class", "split"])
        #expect(table.records.map(\.fields) == [["café", "train"], ["a\r\nb", "test"]])
        #expect(table.records[1].line == 3)
    }

    @Test func emptyLinesAreSkippedAndLinesCounted() throws {
        let table = try parse("class,split\n\ndog,train\n\n\ncat,test\n\n")
        #expect(table.records.map(\.line) == [3, 6])
        #expect(table.records.map(\.row) == [1, 2])
    }

    @Test func emptyFieldsAreKept() throws {
        let table = try parse("a,b,c\n,,\n\"\",x,\n")
        #expect(table.records.map(\.fields) == [["", "", ""], ["", "x", ""]])
    }

    @Test func tooFewOrTooManyFieldsNameTheLine() {
        #expect(throws: CSVError.fieldCount(file: "t.csv", line: 3, row: 2, expected: 2, found: 1)) {
            try parse("class,split\ndog,train\ncat\n")
        }
        #expect(throws: CSVError.fieldCount(file: "t.csv", line: 2, row: 1, expected: 2, found: 3)) {
            try parse("class,split\ndog,train,extra\n")
        }
    }

    @Test func malformedQuoting() {
        #expect(throws: CSVError.unterminatedQuote(file: "t.csv", line: 2)) { try parse("class,split\n\"dog,train\n") }
        #expect(throws: CSVError.characterAfterQuote(file: "t.csv", line: 2)) { try parse("class,split\n\"dog\"x,train\n") }
        #expect(throws: CSVError.quoteInUnquotedField(file: "t.csv", line: 2)) { try parse("class,split\ndo\"g,train\n") }
    }

    @Test func emptyFileInvalidUTF8AndDuplicateColumns() {
        #expect(throws: CSVError.empty(file: "t.csv")) { try parse("") }
        #expect(throws: CSVError.empty(file: "t.csv")) { try parse("\n\r\n") }
        #expect(throws: CSVError.notUTF8(file: "t.csv", line: 2)) {
            try CSV.parse(Data("class,split\n".utf8) + Data([0xFF, 0xFE]) + Data(",train\n".utf8), file: "t.csv")
        }
        #expect(throws: CSVError.duplicateColumn(file: "t.csv", name: "class")) { try parse("class,class\na,b\n") }
    }

    @Test func messagesNameTheFileAndLine() {
        let error = CSVError.fieldCount(file: "set2.csv", line: 7, row: 6, expected: 3, found: 2)
        #expect(error.description.contains("set2.csv, line 7"))
        #expect(error.description.contains("expected 3 fields"))
    }

    @Test func missingFile() {
        #expect(throws: CSVError.unreadable(file: "/nonexistent/x.csv", reason: "no such file")) {
            try CSV.read(URL(fileURLWithPath: "/nonexistent/x.csv"))
        }
    }
}
