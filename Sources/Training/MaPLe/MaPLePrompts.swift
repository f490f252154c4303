// MaPLe's learnable prompts (Khattak et al., CVPR 2023; the official code's
// MultiModalPromptLearner): what MaPLe and MaPLe+LAMM train besides LAMM's label vectors.
//
//   context     [n, Wt]        replaces the first n words of `a photo of a` in every class's prompt
//   deep_text.l [n, Wt]        replaces those rows again entering text block l = 1 ... J-1
//   vision_proj                Wt -> Wv linear map: the image tower's shallow prompts are
//                              vision_proj(context), appended after the class and patch tokens
//   deep_proj.l                Wt -> Wv: the image tower's prompts entering block l are
//                              deep_proj.l(deep_text.l), replacing its last n tokens
//
// J is the prompt depth (1 = shallow MaPLe). The coupling maps are what makes the prompts of the
// two towers one set of parameters: the image side has none of its own.

import CLIP
import Formats

/// y = W x + b with PyTorch's nn.Linear layout (weight [outputs, inputs]).
public struct LinearMap: Sendable, Equatable {
    public var inputs: Int
    public var outputs: Int
    public var weight: [Float]
    public var bias: [Float]

    public init(inputs: Int, outputs: Int, weight: [Float], bias: [Float]) {
        precondition(weight.count == inputs * outputs && bias.count == outputs, "LinearMap: weight or bias of the wrong size")
        (self.inputs, self.outputs, self.weight, self.bias) = (inputs, outputs, weight, bias)
    }

    /// nn.Linear's initialisation: weight and bias uniform in +-1/sqrt(inputs) (kaiming_uniform
    /// with a = sqrt(5) gives that bound for the weight).
    static func pytorchDefault(inputs: Int, outputs: Int, random: inout SplitMix64) -> LinearMap {
        let bound = 1 / Float(inputs).squareRoot()
        func uniform() -> Float { Float.random(in: -bound..<bound, using: &random) }
        return LinearMap(inputs: inputs, outputs: outputs, weight: (0..<(inputs * outputs)).map { _ in uniform() },
                         bias: (0..<outputs).map { _ in uniform() })
    }

    /// Y [rows, outputs] = X [rows, inputs] W^T + b. Plain loops: with 2 rows, sgemm measured slower
    /// here (lamm-bench maple-step 3.4 s against 2.7 s a step).
    func apply(_ x: [Float], rows: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for o in 0..<outputs {
                var sum = bias[o]
                for i in 0..<inputs { sum += x[r * inputs + i] * weight[o * inputs + i] }
                y[r * outputs + o] = sum
            }
        }
        return y
    }

    /// Given dY [rows, outputs] at input X [rows, inputs]: dW = dY^T X, db = sum of dY's rows, dX = dY W.
    func backward(dOut: [Float], input x: [Float], rows: Int) -> (dWeight: [Float], dBias: [Float], dInput: [Float]) {
        var dWeight = [Float](repeating: 0, count: weight.count), dBias = [Float](repeating: 0, count: outputs)
        var dInput = [Float](repeating: 0, count: rows * inputs)
        for r in 0..<rows {
            for o in 0..<outputs {
                let g = dOut[r * outputs + o]
                dBias[o] += g
                for i in 0..<inputs {
                    dWeight[o * inputs + i] += g * x[r * inputs + i]
                    dInput[r * inputs + i] += g * weight[o * inputs + i]
                }
            }
        }
        return (dWeight, dBias, dInput)
    }
}

public enum MaPLePromptError: Error, Equatable, CustomStringConvertible {
    case tensors(reason: String)

    public var description: String {
        switch self {
        case let .tensors(reason): "the stored MaPLe prompts do not fit this model: \(reason)"
        }
    }
}

public struct MaPLePrompts: Sendable, Equatable {
    /// n, the context vectors per prompt.
    public let contextLength: Int
    public let textWidth: Int
    public let visionWidth: Int
    public var context: [Float]
    public var deepText: [[Float]]
    public var visionProjection: LinearMap
    public var deepProjections: [LinearMap]

    /// J: 1 for the shallow prompts alone, plus one per block with deep prompts.
    public var depth: Int { deepText.count + 1 }

    /// A new set of prompts: the context from `contextInit` (the words it replaces) or
    /// N(0, 0.02^2), deep text prompts N(0, 0.02^2), coupling maps as nn.Linear initialises
    /// them. As in the official code, the deep coupling maps are copies of one initialised map.
    public static func initial(contextLength n: Int, depth: Int, textWidth: Int, visionWidth: Int, contextInit: [Float]?,
                               random: inout SplitMix64) -> MaPLePrompts {
        let context = contextInit ?? (0..<(n * textWidth)).map { _ in 0.02 * random.nextGaussian() }
        let visionProjection = LinearMap.pytorchDefault(inputs: textWidth, outputs: visionWidth, random: &random)
        let deepText = (1..<max(depth, 1)).map { _ in (0..<(n * textWidth)).map { _ in 0.02 * random.nextGaussian() } }
        let deepMap = LinearMap.pytorchDefault(inputs: textWidth, outputs: visionWidth, random: &random)
        return MaPLePrompts(contextLength: n, textWidth: textWidth, visionWidth: visionWidth, context: context, deepText: deepText,
                            visionProjection: visionProjection, deepProjections: deepText.map { _ in deepMap })
    }

    public init(contextLength: Int, textWidth: Int, visionWidth: Int, context: [Float], deepText: [[Float]],
                visionProjection: LinearMap, deepProjections: [LinearMap]) {
        self.contextLength = contextLength
        self.textWidth = textWidth
        self.visionWidth = visionWidth
        self.context = context
        self.deepText = deepText
        self.visionProjection = visionProjection
        self.deepProjections = deepProjections
    }

    // MARK: What the towers take

    /// The text tower's deep prompts, replacing the context rows (positions 1 ... n).
    public var textDeepPrompts: TextDeepPrompts? {
        deepText.isEmpty ? nil : TextDeepPrompts(firstPosition: 1, count: contextLength, layers: deepText)
    }

    /// The image tower's prompts: the coupling maps applied to the context and deep text prompts.
    public var visionPrompts: VisionPrompts {
        VisionPrompts(count: contextLength, shallow: visionProjection.apply(context, rows: contextLength),
                      deep: zip(deepProjections, deepText).map { $0.apply($1, rows: contextLength) })
    }

    // MARK: Parameters as one vector (for SGD)

    /// Every trained value: context, deep text prompts, then each coupling map's weight and bias.
    public var flattened: [Float] {
        context + deepText.flatMap { $0 } + visionProjection.weight + visionProjection.bias
            + deepProjections.flatMap { $0.weight + $0.bias }
    }

    public var parameterCount: Int { flattened.count }

    /// The same prompts holding `values` (laid out as `flattened`).
    public func assigning(_ values: ArraySlice<Float>) -> MaPLePrompts {
        precondition(values.count == parameterCount, "MaPLePrompts: \(values.count) values for \(parameterCount) parameters")
        var copy = self
        var cursor = values.startIndex
        func take(_ count: Int) -> [Float] {
            defer { cursor += count }
            return Array(values[cursor..<(cursor + count)])
        }
        copy.context = take(context.count)
        copy.deepText = deepText.map { take($0.count) }
        copy.visionProjection.weight = take(visionProjection.weight.count)
        copy.visionProjection.bias = take(visionProjection.bias.count)
        for l in copy.deepProjections.indices {
            copy.deepProjections[l].weight = take(deepProjections[l].weight.count)
            copy.deepProjections[l].bias = take(deepProjections[l].bias.count)
        }
        return copy
    }

    /// The gradient with respect to `flattened`, given the text tower's gradients of the context
    /// rows (`dContext` [n, Wt]) and deep prompts, and the image tower's of its prompts: the
    /// image side's reach the context and deep text prompts through the coupling maps.
    public func gradient(dContext: [Float], dDeepText: [[Float]], vision: VisionPromptGradients) -> [Float] {
        let n = contextLength
        let shallow = visionProjection.backward(dOut: vision.shallow, input: context, rows: n)
        var gradient = zip(dContext, shallow.dInput).map { $0 + $1 }
        var maps: [Float] = shallow.dWeight + shallow.dBias
        for l in deepText.indices {
            let deep = deepProjections[l].backward(dOut: vision.deep[l], input: deepText[l], rows: n)
            let dText = l < dDeepText.count ? dDeepText[l] : [Float](repeating: 0, count: deepText[l].count)
            gradient += zip(dText, deep.dInput).map { $0 + $1 }
            maps += deep.dWeight + deep.dBias
        }
        return gradient + maps
    }

    // MARK: Stored form

    /// Every tensor but the context (which the store keeps as the snapshot's context vectors),
    /// named by the block they act on: deep_text.l, vision_proj.weight/.bias, deep_proj.l.weight/.bias.
    public var tensors: [PromptTensor] {
        var tensors: [PromptTensor] = []
        for (i, prompt) in deepText.enumerated() {
            tensors.append(PromptTensor(name: "deep_text.\(i + 1)", shape: [contextLength, textWidth], values: prompt))
        }
        tensors.append(PromptTensor(name: "vision_proj.weight", shape: [visionWidth, textWidth], values: visionProjection.weight))
        tensors.append(PromptTensor(name: "vision_proj.bias", shape: [visionWidth], values: visionProjection.bias))
        for (i, map) in deepProjections.enumerated() {
            tensors.append(PromptTensor(name: "deep_proj.\(i + 1).weight", shape: [visionWidth, textWidth], values: map.weight))
            tensors.append(PromptTensor(name: "deep_proj.\(i + 1).bias", shape: [visionWidth], values: map.bias))
        }
        return tensors
    }

    /// Prompts rebuilt from a snapshot's context [n, Wt] and tensors, checked against the widths.
    public init(context: [Float], tensors: [PromptTensor], textWidth: Int, visionWidth: Int) throws {
        guard textWidth > 0, !context.isEmpty, context.count % textWidth == 0 else {
            throw MaPLePromptError.tensors(reason: "the context holds \(context.count) floats, not rows of width \(textWidth)")
        }
        let n = context.count / textWidth
        var byName: [String: PromptTensor] = [:]
        for tensor in tensors { byName[tensor.name] = tensor }
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let found = byName.removeValue(forKey: name) else { throw MaPLePromptError.tensors(reason: "no tensor \(name)") }
            guard found.shape == shape, found.values.count == shape.reduce(1, *) else {
                throw MaPLePromptError.tensors(reason: "\(name) has shape \(found.shape), this model needs \(shape)")
            }
            return found.values
        }
        var deepText: [[Float]] = []
        while byName["deep_text.\(deepText.count + 1)"] != nil {
            deepText.append(try tensor("deep_text.\(deepText.count + 1)", [n, textWidth]))
        }
        let vision = LinearMap(inputs: textWidth, outputs: visionWidth, weight: try tensor("vision_proj.weight", [visionWidth, textWidth]),
                               bias: try tensor("vision_proj.bias", [visionWidth]))
        let deep = try deepText.indices.map { l in
            LinearMap(inputs: textWidth, outputs: visionWidth, weight: try tensor("deep_proj.\(l + 1).weight", [visionWidth, textWidth]),
                      bias: try tensor("deep_proj.\(l + 1).bias", [visionWidth]))
        }
        if let extra = byName.keys.sorted().first { throw MaPLePromptError.tensors(reason: "unexpected tensor \(extra)") }
        self.init(contextLength: n, textWidth: textWidth, visionWidth: visionWidth, context: context, deepText: deepText,
                  visionProjection: vision, deepProjections: deep)
    }
}
