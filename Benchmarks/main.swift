// lamm-bench: timed runs that print ratios against references measured in the same run.
//   swift run -c release lamm-bench text-tower [--python /work/pyenv/bin/python] [--quick]
//   swift run -c release lamm-bench lamm-epoch [--python /work/pyenv/bin/python]
//   swift run -c release lamm-bench vision-tower [--python /work/pyenv/bin/python]
//   swift run -c release lamm-bench store

import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
func fail(_ name: String, _ error: Error) -> Never {
    FileHandle.standardError.write(Data("lamm-bench \(name): \(error)\n".utf8))
    exit(1)
}
switch arguments.first {
case "text-tower":
    do { try TextTowerBenchmark(arguments: Array(arguments.dropFirst())).run() } catch { fail("text-tower", error) }
case "lamm-epoch":
    do { try LAMMEpochBenchmark(arguments: Array(arguments.dropFirst())).run() } catch { fail("lamm-epoch", error) }
case "vision-tower":
    do { try VisionTowerBenchmark(arguments: Array(arguments.dropFirst())).run() } catch { fail("vision-tower", error) }
case "store":
    do { try runStoreBenchmark() } catch { fail("store", error) }
default:
    print("""
        usage: lamm-bench text-tower [--python PATH] [--prompts N] [--classes N] [--quick]
               lamm-bench lamm-epoch [--python PATH] [--classes N] [--shots N]
               lamm-bench vision-tower [--python PATH]
               lamm-bench store
          text-tower  CLIP ViT-B/16 text tower with random weights: sgemm peak, text features
                      of ImageNet-like prompts, one LAMM training step, and the same work in
                      PyTorch when --python (or LAMM_BENCH_PYTHON) names an interpreter with torch.
          lamm-epoch  one epoch of LAMM training, 50 classes x 16 shots, ViT-B/16 text sizes, against
                      Tools/bench_lamm_epoch.py in PyTorch on the same weights and data (2 threads).
          vision-tower  CLIP ViT-B/32 and ViT-B/16 image towers with random weights: images/s against
                      transformers on the same weights (2 threads) when --python is given.
          store       register 1,000 classes x 20 samples x 512-d, then 10 more: time and database
                      growth of the second against the first, per class.
        """)
    exit(arguments.isEmpty ? 0 : 2)
}
