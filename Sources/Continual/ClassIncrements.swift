// How a dataset's classes become the stages of a class-incremental scenario: an order of the
// classes (sorted; a seeded permutation as PyCIL, Continual-CLIP and MoE-Adapters draw it; or a
// file) and the stage sizes (`--steps N`, or `--increments B,I`: B classes first, then I per
// stage; B0 Inc10 over 100 classes is `--increments 10,10`).

import Foundation

/// The order classes are taken in.
public enum ClassOrder: Sendable, Equatable, CustomStringConvertible {
    /// The dataset's own order: Dassl's labels, ImageFolder's sorted folder names.
    case sorted
    /// `np.random.seed(S); np.random.permutation(K)` over the sorted order: class i of the
    /// scenario is sorted[permutation[i]].
    case seeded(UInt32)
    /// One class name per line, each class once.
    case file(path: String)

    /// `sorted`, `seed:S` or a file's path.
    public init(argument: String) throws {
        if argument == "sorted" {
            self = .sorted
        } else if argument.hasPrefix("seed:") {
            guard let seed = UInt32(argument.dropFirst(5)) else {
                throw ClassOrderError.badSeed(argument: argument)
            }
            self = .seeded(seed)
        } else {
            self = .file(path: argument)
        }
    }

    public var description: String {
        switch self {
        case .sorted: return "sorted"
        case .seeded(let seed): return "seed:\(seed)"
        case .file(let path): return path
        }
    }

    /// `classes` (in the dataset's own order) in this order.
    public func apply<T>(to classes: [T], names: (T) -> String) throws -> [T] {
        switch self {
        case .sorted:
            return classes
        case .seeded(let seed):
            var random = NumPyRandomState(seed: seed)
            return random.permutation(classes.count).map { classes[$0] }
        case .file(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ClassOrderError.unreadable(path: path) }
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            var byName: [String: T] = [:]
            for item in classes { byName[names(item)] = item }
            var seen = Set<String>()
            for (k, line) in lines.enumerated() {
                guard byName[line] != nil else { throw ClassOrderError.unknownClass(path: path, line: k + 1, name: line) }
                guard seen.insert(line).inserted else { throw ClassOrderError.repeatedClass(path: path, line: k + 1, name: line) }
            }
            let missing = classes.map(names).filter { !seen.contains($0) }
            guard missing.isEmpty else { throw ClassOrderError.missingClasses(path: path, names: missing) }
            return lines.map { byName[$0]! }
        }
    }
}

/// The stage sizes of a scenario.
public enum ClassIncrements: Sendable, Equatable, CustomStringConvertible {
    /// N stages, as even as possible, the first ones larger (2 stages: ceil(K/2), then the rest).
    case steps(Int)
    /// `base` classes first, then `increment` per stage.
    case increments(base: Int, increment: Int)

    public var description: String {
        switch self {
        case .steps(let n): return "--steps \(n)"
        case let .increments(base, increment): return "--increments \(base),\(increment)"
        }
    }

    /// The number of classes of each stage, for `count` classes.
    public func sizes(classes count: Int) throws -> [Int] {
        switch self {
        case .steps(let n):
            guard n >= 1, n <= count else { throw ClassOrderError.steps(steps: n, classes: count) }
            return (0..<n).map { count / n + ($0 < count % n ? 1 : 0) }
        case let .increments(base, increment):
            guard base >= 1, increment >= 1, base <= count, (count - base) % increment == 0 else {
                throw ClassOrderError.increments(base: base, increment: increment, classes: count)
            }
            return [base] + Array(repeating: increment, count: (count - base) / increment)
        }
    }

    /// `ordered` cut into stages.
    public func stages<T>(_ ordered: [T]) throws -> [[T]] {
        var start = 0
        return try sizes(classes: ordered.count).map { size in
            defer { start += size }
            return Array(ordered[start..<(start + size)])
        }
    }
}

public enum ClassOrderError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case badSeed(argument: String)
    case unreadable(path: String)
    case unknownClass(path: String, line: Int, name: String)
    case repeatedClass(path: String, line: Int, name: String)
    case missingClasses(path: String, names: [String])
    case steps(steps: Int, classes: Int)
    case increments(base: Int, increment: Int, classes: Int)

    public var description: String {
        switch self {
        case let .badSeed(argument):
            return "--class-order \(argument): the seed must be a whole number from 0 to 4294967295 (seed:1993, as PyCIL draws its orders)."
        case let .unreadable(path):
            return "--class-order \(path): no such file, or not UTF-8 text. Give sorted, seed:S, or a file with one class name per line."
        case let .unknownClass(path, line, name):
            return "\(path), line \(line): '\(name)' is not a class of the dataset. The file names each class once, one per line."
        case let .repeatedClass(path, line, name):
            return "\(path), line \(line): '\(name)' is named a second time. The file names each class once, one per line."
        case let .missingClasses(path, names):
            return "\(path) leaves out \(names.count) class\(names.count == 1 ? "" : "es") (\(names.prefix(5).map { "'\($0)'" }.joined(separator: ", "))"
                + (names.count > 5 ? ", ..." : "") + "). The file names each class once, one per line."
        case let .steps(steps, classes):
            return "--steps \(steps): the dataset has \(classes) classes, so give from 1 to \(classes) stages."
        case let .increments(base, increment, classes):
            return "--increments \(base),\(increment): \(classes) classes do not split into \(base) first and then \(increment) per stage; "
                + "give B and I with B <= \(classes) and \(classes) - B a multiple of I (B0 Inc10 over 100 classes is --increments 10,10)."
        }
    }

    public var errorDescription: String? { description }
}

/// NumPy's legacy `RandomState` (MT19937, seeded as `np.random.seed(int)`), as far as
/// `permutation` needs it: the orders of the field's class-incremental benchmarks are drawn so.
public struct NumPyRandomState {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624

    /// MT19937's init_genrand, which `np.random.seed(S)` uses for an integer seed.
    public init(seed: UInt32) {
        state[0] = seed
        for i in 1..<624 {
            state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i)
        }
    }

    public mutating func nextUInt32() -> UInt32 {
        if index >= 624 {
            for i in 0..<624 {
                let y = (state[i] & 0x8000_0000) | (state[(i + 1) % 624] & 0x7fff_ffff)
                state[i] = state[(i + 397) % 624] ^ (y >> 1) ^ (y & 1 == 1 ? 0x9908_b0df : 0)
            }
            index = 0
        }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    /// A uniform integer in 0...max by masked rejection, as NumPy's `random_interval`.
    mutating func interval(_ max: UInt32) -> UInt32 {
        guard max > 0 else { return 0 }
        var mask = max
        for shift in [1, 2, 4, 8, 16] as [UInt32] { mask |= mask >> shift }
        while true {
            let value = nextUInt32() & mask
            if value <= max { return value }
        }
    }

    /// `np.random.permutation(n)`: 0..<n shuffled by Fisher-Yates from the last element down.
    public mutating func permutation(_ n: Int) -> [Int] {
        var values = Array(0..<n)
        guard n > 1 else { return values }
        for i in stride(from: n - 1, through: 1, by: -1) {
            let j = Int(interval(UInt32(i)))
            values.swapAt(i, j)
        }
        return values
    }
}
