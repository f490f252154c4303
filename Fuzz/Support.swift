import Foundation

// Shared by every target (scripts/fuzz compiles it into each one).

/// The name each target gives its input: every refusal's message must name it, so that a user
/// can tell which of their files was wrong.
let inputName = "fuzz-input"

/// The bytes libFuzzer hands over, copied so that readers may keep them.
func inputData(_ start: UnsafeRawPointer?, _ count: Int) -> Data {
    guard let start, count > 0 else { return Data() }
    return Data(bytes: start, count: count)
}

/// Refusing an input is the expected outcome for most inputs; a refusal that does not say
/// which file it is about is a finding, like a crash.
func expectNamed(_ error: any Error, _ file: String) {
    let message = String(describing: error)
    if !message.contains(file) {
        fatalError("the error does not name \(file): \(message)")
    }
}

/// A file under a per-process folder (in memory where Linux offers one), for readers that
/// take a path; the folder is removed when the process exits normally.
func scratchFile(_ name: String) -> URL {
    scratchFolder.appendingPathComponent(name)
}

private let scratchFolder: URL = {
    let shm = URL(fileURLWithPath: "/dev/shm", isDirectory: true)
    let root = FileManager.default.isWritableFile(atPath: shm.path) ? shm : FileManager.default.temporaryDirectory
    let folder = root.appendingPathComponent("lamm-fuzz-\(getpid())", isDirectory: true)
    try! FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(at: scratchFolder) }
    return folder
}()

/// Writes `data` to `url`; the target cannot go on without it.
func writeScratch(_ data: Data, to url: URL) {
    do {
        try data.write(to: url)
    } catch {
        fatalError("cannot write \(url.path): \(error)")
    }
}
