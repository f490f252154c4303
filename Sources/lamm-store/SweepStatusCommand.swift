import Continual
import Foundation
import Store

extension SweepCommand {
    /// `sweep --status`: the grid's runs as the store has them; reads only.
    func showStatus(_ request: SweepRequest) throws {
        let status = try store.withStore(.read) { labelStore in
            try SweepStatus(grid: StageWriter.grid(request, store: labelStore), store: labelStore)
        }
        if output.json {
            try printJSON(status)
            return
        }
        func age(_ seconds: Double?) -> String { seconds.map { ProgressPrinter.duration(max($0, 0)) + " ago" } ?? "" }
        print("\(status.runs.count) runs: \(status.done) done, \(status.running) running, \(status.failed) failed, \(status.waiting) waiting"
              + (status.workers.isEmpty ? "" : "; workers \(status.workers.joined(separator: ", "))")
              + (status.estimatedSecondsLeft.map { "; about \(ProgressPrinter.duration($0)) left" } ?? ""))
        printTable(["dataset", "method", "variant", "shots", "seed", "state", "stages", "worker", "claimed", "heartbeat", "note"], status.runs.map { run in
            [run.dataset, run.method.rawValue, run.variant.rawValue, "\(run.shots)", "\(run.seed)", run.state.rawValue,
             "\(run.stagesDone)/\(run.stages)", run.worker ?? "", age(run.claimedSecondsAgo), age(run.leaseAgeSeconds),
             run.leaseExpired ? "lease ended: the next worker takes it over" : run.state == .failed ? run.message ?? "" : ""]
        })
    }
}
