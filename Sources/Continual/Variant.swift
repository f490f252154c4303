// The paper's ablations as a sweep axis (LAMM.md, Tables 3-5): the hierarchical loss with
// some of its terms off, and random label-vector initialisation. A variant changes the
// training options of the methods that train label vectors (lamm, coop+lamm, maple+lamm); CoOp
// and MaPLe have no label vectors, so only their full runs are part of a grid.

import Methods
import Training

public enum Variant: String, Codable, Sendable, CaseIterable, Comparable {
    /// The method as published: cross-entropy plus all three hierarchical terms.
    case full
    /// Table 3's "w/o HL": cross-entropy only.
    case noHL = "no-hl"
    /// Table 4: one term off.
    case noWC = "no-wc"
    case noCOS = "no-cos"
    case noKD = "no-kd"
    /// Table 4: cross-entropy and one term.
    case wcOnly = "wc-only"
    case cosOnly = "cos-only"
    case kdOnly = "kd-only"
    /// Table 5: label vectors start random instead of from the class name's words.
    case randomInit = "random-init"

    /// The loss terms a variant keeps (cross-entropy is always on).
    var keeps: (wc: Bool, cos: Bool, kd: Bool) {
        switch self {
        case .full, .randomInit: return (true, true, true)
        case .noHL: return (false, false, false)
        case .noWC: return (false, true, true)
        case .noCOS: return (true, false, true)
        case .noKD: return (true, true, false)
        case .wcOnly: return (true, false, false)
        case .cosOnly: return (false, true, false)
        case .kdOnly: return (false, false, true)
        }
    }

    /// Whether `method` has runs of this variant: every method runs in full; the ablations need
    /// label vectors.
    public func applies(to method: Method) -> Bool { self == .full || method.trainsLabels }

    /// `configuration` with this variant's terms switched off (weight 0) and its initialisation.
    public func apply(to configuration: LAMMConfiguration) -> LAMMConfiguration {
        var configuration = configuration
        let keeps = self.keeps
        if !keeps.wc { configuration.lambdaWC = 0 }
        if !keeps.cos { configuration.lambdaCOS = 0 }
        if !keeps.kd { configuration.lambdaKD = 0 }
        if self == .randomInit { configuration.labelInitialisation = .random }
        return configuration
    }

    /// The name a run tag stores: nil for the full method.
    public var tag: String? { self == .full ? nil : rawValue }

    public init?(tag: String?) {
        guard let tag else { self = .full; return }
        self.init(rawValue: tag)
    }

    public static func < (a: Variant, b: Variant) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
