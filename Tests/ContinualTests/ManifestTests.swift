@testable import Continual
import Foundation
import Store
import Testing
import Training

/// Every trained snapshot records how it was made (SnapshotManifest): the version, checkpoint
/// and stage hashes, the training rows drawn and the rule, seed, precision, threads, time, peak
/// memory and the number of values trained.
@Suite struct ManifestTests {
    @Test func aSnapshotRecordsItsManifest() throws {
        let w = try Workspace()
        var request = try w.stage("set1", classes: ["dog", "cat"], train: 6)
        request.configuration.shots = 2
        request.configuration.seed = 7
        let result = try w.session.writer.addStage(request)
        let record = try w.store.snapshotRecord(result.snapshot.id)
        let manifest = try #require(record.configuration?.manifest)
        #expect(manifest.lammStoreVersion == lammStoreVersion)
        #expect(manifest.checkpointSha256 == w.session.features.model.weightsSha256)
        #expect(manifest.stageSha256 == record.configuration?.stageSha256)
        // Two of each class's six training rows (rows 0-5 are dog's train rows, 10-15 cat's).
        #expect(manifest.trainingRows.count == 4 && manifest.trainingRows.filter { $0 < 10 }.count == 2)
        let data = try w.store.registeredStageData(stage: result.registration.stageId)
        #expect(manifest.trainingRows.allSatisfy { data.samples[$0].split == .train })
        #expect(manifest.trainingRowsSha256 == FloatBlob.sha256(Data(manifest.trainingRows.map(String.init).joined(separator: ",").utf8)))
        #expect(manifest.seed == 7 && manifest.samplingRule.contains("SplitMix64") && manifest.precision == "fp32")
        #expect(manifest.threads >= 1 && manifest.cores >= 1 && manifest.seconds > 0 && manifest.peakMemoryBytes > 1 << 20)
        // LAMM trains every class-name token's vector: dog and cat are one token each, width 32.
        let rows = try w.store.labelRows(snapshot: result.snapshot.id)
        #expect(manifest.trainableParameters == rows.map { $0.vectors.values.count }.reduce(0, +))
        // Another seed draws other rows, and says so.
        var other = try w.stage("set1b", classes: ["dog", "cat"], train: 6)
        other.dataset = "pets-2"
        other.configuration.shots = 2
        other.configuration.seed = 8
        let second = try w.session.writer.addStage(other)
        let otherManifest = try #require(try w.store.snapshotRecord(second.snapshot.id).configuration?.manifest)
        #expect(otherManifest.seed == 8 && otherManifest.trainingRowsSha256 != manifest.trainingRowsSha256)
    }
}
