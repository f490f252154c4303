import Foundation

/// SGD with momentum and weight decay as PyTorch's torch.optim.SGD (dampening 0, no Nesterov):
///   g = grad + weight_decay * p;  buf = momentum * buf + g (buf = g at the first step);  p -= lr * buf.
public struct SGD: Sendable {
    public var momentum: Float
    public var weightDecay: Float
    private var buffer: [Float] = []

    public init(momentum: Float, weightDecay: Float) {
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public mutating func step(_ parameters: inout [Float], gradient: [Float], learningRate: Float) {
        precondition(parameters.count == gradient.count, "SGD: gradient and parameters differ in size")
        let first = buffer.isEmpty
        if first { buffer = [Float](repeating: 0, count: parameters.count) }
        for i in parameters.indices {
            let g = gradient[i] + weightDecay * parameters[i]
            buffer[i] = first ? g : momentum * buffer[i] + g
            parameters[i] -= learningRate * buffer[i]
        }
    }
}

/// The learning rate per epoch of the official code (Dassl): `warmupEpochs` epochs at a constant
/// `warmupLearningRate`, then cosine annealing of the base rate over `epochs` epochs.
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public var baseLearningRate: Float
    public var epochs: Int
    public var warmupEpochs: Int
    public var warmupLearningRate: Float

    public init(baseLearningRate: Float, epochs: Int, warmupEpochs: Int, warmupLearningRate: Float) {
        self.baseLearningRate = baseLearningRate
        self.epochs = epochs
        self.warmupEpochs = warmupEpochs
        self.warmupLearningRate = warmupLearningRate
    }

    /// The rate used throughout epoch `epoch` (0-based).
    public func learningRate(epoch: Int) -> Float {
        if epoch < warmupEpochs { return warmupLearningRate }
        let t = Double(epoch - warmupEpochs) / Double(max(epochs, 1))
        return Float(0.5 * Double(baseLearningRate) * (1 + cos(Double.pi * t)))
    }
}
