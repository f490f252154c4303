import Foundation
import Continual
import Training

/// Training progress on standard error: one line rewritten in place on a terminal, a line
/// every few epochs otherwise.
final class ProgressPrinter {
    let interactive = isatty(STDERR_FILENO) != 0
    let quiet: Bool
    var lastEpochPrinted = -1

    init(quiet: Bool) { self.quiet = quiet }

    func write(_ text: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data(text.utf8))
    }

    func training(_ p: TrainingProgress) {
        let t = p.terms
        let line = String(format: "epoch %d/%d step %d/%d  loss %.4f (ce %.4f wc %.4f cos %.4f kd %.4f)  lr %.2e  eta ",
                          p.epoch + 1, p.epochs, p.step + 1, p.stepsPerEpoch, t.total, t.ce, t.wc, t.cos, t.kd,
                          Double(p.learningRate)) + Self.duration(p.remaining)
        let lastStep = p.step + 1 == p.stepsPerEpoch
        if interactive {
            write("\r\u{1B}[K" + line + (lastStep && p.epoch + 1 == p.epochs ? "\n" : ""))
        } else if lastStep, p.epoch == 0 || (p.epoch + 1) % 10 == 0 || p.epoch + 1 == p.epochs {
            write(line + "\n")
        }
    }

    func images(done: Int, total: Int, imagesPerSecond: Double, remaining: Double) {
        let line = String(format: "encoding images %d/%d  %.1f images/s  eta ", done, total, imagesPerSecond) + Self.duration(remaining)
        if interactive {
            write("\r\u{1B}[K" + line + (done == total ? "\n" : ""))
        } else if done == total || done % 256 < 16 {
            write(line + "\n")
        }
    }

    func stage(_ event: AddStageEvent) {
        switch event {
        case let .baseline(accuracy):
            write(String(format: "zero-shot CLIP on the stage's test rows: %.2f%% (%d/%d)\n", accuracy.percent, accuracy.correct, accuracy.total))
        case let .training(progress):
            training(progress)
        case let .images(.progress(done, total, rate, remaining)):
            images(done: done, total: total, imagesPerSecond: rate, remaining: remaining)
        case let .images(.skipped(error)):
            FileHandle.standardError.write(Data("skipped: \(error.description)\n".utf8))
        }
    }

    static func duration(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.0fs", seconds) : String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60)
    }
}
