import Foundation

/// Runs a reference script of Tools/ with `python` on `threads` threads and returns the JSON
/// object it prints as its last line on standard output.
func runPythonReference(python: String, script name: String, arguments: [String], threads: Int) throws -> [String: Any] {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tools/\(name)")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [script.path] + arguments + ["--threads", "\(threads)"]
    var environment = ProcessInfo.processInfo.environment
    environment["OMP_NUM_THREADS"] = "\(threads)"
    environment["MKL_NUM_THREADS"] = "\(threads)"
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    print("running \(python) \(name) ...")
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0,
          let line = String(decoding: output, as: UTF8.self).split(separator: "\n").last,
          let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    else {
        throw BenchmarkError(description: "\(script.path) failed (status \(process.terminationStatus)); check that \(python) has torch and transformers")
    }
    return json
}
