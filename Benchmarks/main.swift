// lamm-bench: timed runs that print ratios against references measured in the same run.
//   swift run -c release lamm-bench text-tower [--python /work/pyenv/bin/python] [--quick]

import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "text-tower":
    do {
        try TextTowerBenchmark(arguments: Array(arguments.dropFirst())).run()
    } catch {
        FileHandle.standardError.write(Data("lamm-bench text-tower: \(error)\n".utf8))
        exit(1)
    }
default:
    print("""
        usage: lamm-bench text-tower [--python PATH] [--prompts N] [--classes N] [--quick]
          text-tower  CLIP ViT-B/16 text tower with random weights: sgemm peak, text features
                      of ImageNet-like prompts, one LAMM training step, and the same work in
                      PyTorch when --python (or LAMM_BENCH_PYTHON) names an interpreter with torch.
        """)
    exit(arguments.isEmpty ? 0 : 2)
}
