import Foundation
@testable import GlanceConfig

/// A scratch directory with config files, removed when the test ends.
final class ConfigFixture {
    let dir: String

    init() {
        dir = NSTemporaryDirectory() + "storefs-config-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let path = dir + "/" + name
        try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        try! text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func source(_ inputs: [ConfigInput]) throws -> ConfigSource {
        try ConfigLoader.load(inputs).get()
    }

    /// Loads one file and validates it; returns the errors (empty on success).
    func errors(_ text: String) throws -> [Diagnostic] {
        let path = write("glance-api.conf", text)
        switch GlanceConfiguration.validate(try source([.file(path)])) {
        case .success: return []
        case .failure(let failure): return failure.errors
        }
    }

    func configuration(_ text: String) throws -> GlanceConfiguration {
        let path = write("glance-api.conf", text)
        return try GlanceConfiguration.validate(try source([.file(path)])).get()
    }

    /// A valid multi-store prefix with stores under the fixture directory; `extra` is appended.
    func validConfig(_ extra: String = "", backends: String = "fast:file, slow:file", defaultBackend: String = "fast") -> String {
        """
        [DEFAULT]
        enabled_backends = \(backends)
        [glance_store]
        default_backend = \(defaultBackend)
        [fast]
        filesystem_store_datadir = \(dir)/fast
        [slow]
        filesystem_store_datadir = \(dir)/slow
        [os_glance_staging_store]
        filesystem_store_datadir = \(dir)/staging
        [os_glance_tasks_store]
        filesystem_store_datadir = \(dir)/tasks

        """ + extra
    }
}

extension ValidationFailure: CustomStringConvertible {
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
