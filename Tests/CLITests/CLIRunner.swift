import Foundation

/// Runs the built `lamm-store` binary, as a user would, and captures what it prints.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures")

    /// The binary built with these tests: SwiftPM builds the `lamm-store` product into the
    /// same products folder as the test bundle (this target depends on it), so it is never
    /// older than the code under test. Another copy (an earlier `.build/debug`, say) is never
    /// used in its place.
    static func binary() throws -> URL {
        var directory = Bundle.main.bundleURL
        var searched: [String] = []
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("lamm-store")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            searched.append(directory.path)
            directory = directory.deletingLastPathComponent()
        }
        throw MissingBinary(searched: searched)
    }

    struct MissingBinary: Error, CustomStringConvertible {
        let searched: [String]
        var description: String {
            "no lamm-store binary beside the test bundle (searched \(searched.joined(separator: ", "))); "
                + "build it with the tests: `swift build --build-tests`, then `swift test --skip-build`"
        }
    }

    static func run(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil,
                    timeout: TimeInterval? = nil) throws -> CLIResult {
        try runProgram(try binary().path, arguments, environment: environment, in: directory, timeout: timeout)
    }

    /// Runs any program and captures what it prints. With `timeout`, a program still running
    /// after that many seconds is killed (its status is then the signal's, 9), so that a test of
    /// something that could hang fails instead.
    static func runProgram(_ program: String, _ arguments: [String], environment: [String: String] = [:],
                           in directory: URL? = nil, timeout: TimeInterval? = nil) throws -> CLIResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LAMM_STORE_DB"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let pid = process.processIdentifier
        let killer = DispatchWorkItem { _ = kill(pid, SIGKILL) }
        if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer) }
        defer { killer.cancel() }
        // Read before waiting so a large output cannot fill the pipe and stall the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLIResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
    }

    static func json(_ result: CLIResult) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    }
}

/// A temporary folder per test, removed at the end.
final class Scratch {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("lamm-cli-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try Data(text.utf8).write(to: url.appendingPathComponent(name))
        return path(name)
    }

    @discardableResult
    func write(_ name: String, _ data: Data) throws -> String {
        try data.write(to: url.appendingPathComponent(name))
        return path(name)
    }
}
