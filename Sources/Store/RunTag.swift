import Foundation

/// The parameters that make one run of a sweep (`lamm-store sweep`) a lineage of its own: a
/// method's snapshots trained with the same shots, seed and ablation variant on a dataset's
/// stages. Stored in `snapshot.run` as canonical JSON (Migrations/0006_run.sql).
public struct RunTag: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var shots: Int
    public var seed: UInt64
    /// The paper's ablation the run trains (`no-hl`, `random-init`, ...); nil for the full
    /// method, which is not written, so that runs of the full method keep the text they had
    /// before variants existed.
    public var variant: String?

    public init(shots: Int, seed: UInt64, variant: String? = nil) {
        self.shots = shots
        self.seed = seed
        self.variant = variant
    }

    /// `{"seed":S,"shots":N}` (with `"variant"` for an ablation): keys sorted, so that equal
    /// runs have equal text.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Two integers always encode.
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// The run a stored `snapshot.run` names; nil for NULL or text that is not a run.
    public init?(json: String?) {
        guard let json, let tag = try? JSONDecoder().decode(RunTag.self, from: Data(json.utf8)) else { return nil }
        self = tag
    }

    public var description: String { "shots \(shots), seed \(seed)" + (variant.map { ", variant \($0)" } ?? "") }

    public static func < (a: RunTag, b: RunTag) -> Bool { (a.variant ?? "", a.shots, a.seed) < (b.variant ?? "", b.shots, b.seed) }
}
