import Foundation

/// A backend started by one of the project's scripts (`SCRIPT start DIR ARGS...`, `SCRIPT stop DIR`):
/// the one `scripts/test.sh` started for the whole run when `sharedDir` names it, else one of this
/// test's own in a new directory, stopped by the script and removed when released (also when the
/// test fails).
final class ScriptedBackend: Sendable {
    let dir: String
    /// What `start` printed; empty for the run's backend.
    let started: String
    private let script: String
    private let owned: Bool

    init(script: String, sharedDir: String?, name: String, under parent: String = "/var/tmp",
         arguments: [String] = []) throws {
        self.script = script
        if let sharedDir, !sharedDir.isEmpty {
            dir = sharedDir
            started = ""
            owned = false
        } else {
            dir = (parent.hasSuffix("/") ? parent : parent + "/") + "storefs-\(name)-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            owned = true
            started = try output("/bin/bash", [script, "start", dir] + arguments)
        }
    }

    deinit {
        if owned {
            _ = try? output("/bin/bash", [script, "stop", dir])
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    /// The ports the script wrote to DIR/ports, in order.
    var ports: [Int] {
        ((try? String(contentsOfFile: dir + "/ports", encoding: .utf8)) ?? "").split(separator: " ").compactMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}
