import ArgumentParser
import Testing
@testable import lamm_store

/// A value given twice in a list option is a usage error naming the value, not a crash or a
/// grid that trains one cell twice.
@Suite struct ListOptionTests {
    func expectUsageError(_ arguments: [String], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try LAMMStoreCommand.parseAsRoot(arguments)
            Issue.record("\(arguments) parsed", sourceLocation: sourceLocation)
        } catch {
            let message = LAMMStoreCommand.message(for: error)
            for text in mentions {
                #expect(message.contains(text), "\(arguments): \(message)", sourceLocation: sourceLocation)
            }
            #expect(LAMMStoreCommand.exitCode(for: error) == .validationFailure, sourceLocation: sourceLocation)
        }
    }

    @Test func sweepRefusesARepeatedMethodShotOrSeed() {
        expectUsageError(["sweep", "--methods", "lamm,lamm"], mentions: ["--methods", "'lamm' is given twice"])
        expectUsageError(["sweep", "--methods", "coop, coop+lamm,coop"], mentions: ["--methods", "'coop' is given twice"])
        expectUsageError(["sweep", "--shots", "1,2,1"], mentions: ["--shots", "'1' is given twice"])
        expectUsageError(["sweep", "--shots", "1,01"], mentions: ["--shots", "'1' is given twice"])
        expectUsageError(["sweep", "--seeds", "3,3"], mentions: ["--seeds", "'3' is given twice"])
    }

    @Test func distinctListsStillParse() throws {
        let sweep = try parsed(["sweep", "--methods", "lamm,coop", "--shots", "1,2", "--seeds", "2,1"], as: SweepCommand.self)
        let grid = try sweep.grid
        #expect(grid.methods == [.lamm, .coop] && grid.shots == [1, 2] && grid.seeds == [2, 1])
    }

    @Test func classifyAndDemoRefuseARepeatedValue() {
        expectUsageError(["classify", "--snapshot", "1", "--stages", "Set1,Set1", "a.jpg"], mentions: ["--stages", "'Set1' is given twice"])
        expectUsageError(["demo", "--methods", "lamm", "coop", "lamm"], mentions: ["--methods", "'lamm' is given twice"])
    }

    @Test func evalOnAnotherDatasetRefusesTheClassProtocolBeforeOpeningAnything() {
        expectUsageError(["eval", "--snapshot", "1", "--on", "other", "--protocol", "class"], mentions: ["--on scores each stage", "leave out --protocol class"])
    }
}
