import Foundation
import Testing

/// `reproduce` retrains a snapshot from its manifest in a scratch copy: bit-identical at the same
/// thread count, the store unchanged; a snapshot without a manifest, or untrained, is refused.
extension StoreCommandTests {
    @Test func reproduceIsBitIdenticalAndLeavesTheStoreAsItWas() throws {
        try registeredPets()
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat"], perClass: 4)
        let features = try features("set1.npy", rows: rows)
        #expect(try run(["add-classes", csv, "--features", features, "--method", "coop", "--epochs", "3", "--shots", "2", "--seed", "5", "--quiet"]).status == 0)
        let before = try contents()
        for snapshot in ["1", "2", "3"] {
            let result = try run(["reproduce", "--snapshot", snapshot, "--json", "--quiet"])
            #expect(result.status == 0, "snapshot \(snapshot): \(result.stdout) \(result.stderr)")
            let report = try #require(try CLI.json(result) as? [String: Any])
            #expect(report["identical"] as? Bool == true && report["same_training_rows"] as? Bool == true)
            #expect((report["values"] as? Int ?? 0) > 0 && (report["notes"] as? [String]) == [])
        }
        // CoOp's snapshot compares its context too: 4 context vectors of width 32 beside dog's and cat's rows.
        let coop = try #require(try CLI.json(try run(["reproduce", "--snapshot", "3", "--json", "--quiet"])) as? [String: Any])
        #expect((coop["values"] as? Int ?? 0) >= 4 * 32)
        #expect(try contents() == before)
        let text = try run(["reproduce", "--snapshot", "2", "--quiet"])
        #expect(text.stdout.contains("bit-identical"), "\(text.stdout)")
        let zeroShot = try run(["add-classes", csv, "--features", features, "--method", "zeroshot", "--quiet"])
        #expect(zeroShot.status == 0)
        let refused = try run(["reproduce", "--snapshot", "4"])
        #expect(refused.status != 0 && refused.stderr.contains("zero-shot CLIP"), "\(refused.stderr)")
    }
}
