public import Foundation

/// The package's root directory, for tests that read its files or run its executables.
public let packageRoot = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../..").standardized

/// How a command ended and what it printed.
public struct CommandOutcome: Sendable {
    public let status: Int32
    public let output: String
    public let errors: String
}

/// Runs a program to its end, at most `limit`, with its output in files (so a chatty program
/// never blocks on a full pipe). A name without a slash is looked up on `PATH`.
public func runCommand(
    _ program: String, _ arguments: [String] = [], environment: [String: String] = ProcessInfo.processInfo.environment,
    limit: Duration = .seconds(60)
) async throws -> CommandOutcome {
    let directory = FileManager.default.temporaryDirectory.appending(path: "command-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let (outputFile, errorFile) = (directory.appending(path: "out"), directory.appending(path: "err"))
    _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)

    let process = Process()
    guard let executable = program.contains("/") ? URL(filePath: program) : findOnPath(program) else {
        throw CommandNotFound(program: program)
    }
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment
    process.standardOutput = try FileHandle(forWritingTo: outputFile)
    process.standardError = try FileHandle(forWritingTo: errorFile)
    try process.run()
    do {
        try await eventually(limit, "\(program) \(arguments.joined(separator: " ")) to finish") { !process.isRunning }
    } catch {
        process.terminate()
        throw error
    }
    return CommandOutcome(
        status: process.terminationStatus,
        output: (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "",
        errors: (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
    )
}

public struct CommandNotFound: Error, CustomStringConvertible {
    public let program: String
    public var description: String { "\(program) is not on PATH; `make test` installs what the tests need" }
}

private func findOnPath(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    return path.split(separator: ":").map { URL(filePath: String($0)).appending(path: name) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}
