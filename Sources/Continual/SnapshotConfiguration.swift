// What a snapshot records of its training, as the store keeps it: the configuration (everything
// needed to reproduce it) and the loss curve, each a JSON text of sorted snake_case keys. They
// are written and read here only.

import Foundation
import Methods
import Store
import Training

/// The configuration stored with a snapshot.
public struct SnapshotConfiguration: Codable, Sendable, Equatable {
    public var method: Method
    public var trainingProtocol: Protocol
    public var template: String
    public var shots: Int
    public var lossWeights: LossWeights?
    public var lamm: LAMMConfiguration?
    public var stageFile: String
    public var featuresFile: String?
    /// `StageData.contentSHA256` of the stage trained on (`verify` checks it against the stage).
    public var stageSha256: String
    /// How the snapshot was made, for `reproduce` and for papers; nil in snapshots written
    /// before manifests.
    public var manifest: SnapshotManifest?

    /// How a snapshot's configuration and loss curve are written: sorted snake_case keys.
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    func json() throws -> String { String(decoding: try Self.encoder().encode(self), as: UTF8.self) }

    static func json(_ lossCurve: [EpochLoss]) throws -> String { String(decoding: try encoder().encode(lossCurve), as: UTF8.self) }

    /// A loss curve as stored; nil when the text is not one.
    public static func lossCurve(json: String) -> [EpochLoss]? { try? decoder().decode([EpochLoss].self, from: Data(json.utf8)) }
}

/// What a snapshot was made with and by: enough to train it again and to say what it cost.
public struct SnapshotManifest: Codable, Sendable, Equatable {
    public var lammStoreVersion: String
    /// SHA-256 of the checkpoint's weights file the store is bound to.
    public var checkpointSha256: String
    /// The stage's content hash (as `stage_sha256`).
    public var stageSha256: String
    /// The training rows drawn: positions among the stage's samples (registration order), and
    /// their hash, with the rule and the seed that drew them.
    public var trainingRows: [Int]
    public var trainingRowsSha256: String
    public var samplingRule: String
    public var seed: UInt64
    /// `fp32` or `bf16`, as the towers ran.
    public var precision: String
    /// OpenBLAS's threads and the cores the process could use.
    public var threads: Int
    public var cores: Int
    /// Training's wall time, the process's peak resident memory when the stage was trained, and
    /// the number of values the optimiser moved.
    public var seconds: Double
    public var peakMemoryBytes: Int
    public var trainableParameters: Int

    public static let samplingRule = "per class: its training images in registration order; with --shots n, shuffled with SplitMix64(seed) "
        + "(one generator for the stage, classes in label order) and the first n kept"
}

extension SnapshotRecord {
    /// The stored configuration; nil for a snapshot recorded without one.
    public var configuration: SnapshotConfiguration? {
        try? SnapshotConfiguration.decoder().decode(SnapshotConfiguration.self, from: Data(configJson.utf8))
    }

    /// The stored loss curve, one entry per epoch; nil when none could be read.
    public var lossCurve: [EpochLoss]? { SnapshotConfiguration.lossCurve(json: lossCurveJson) }
}
