import Foundation
import Logging
import Testing
import GlanceConfig
@testable import GlanceStore

/// A file store on a scratch directory; seeding writes straight into the datadir.
final class FileHarness: StoreHarness, @unchecked Sendable {
    let dir = NSTemporaryDirectory() + "storefs-file-" + UUID().uuidString
    var datadir: String { dir + "/images" }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// A store defined through a real config file, as the registry would build it.
    func definition(_ storeOptions: String = "", id: String = "fast") throws -> StoreDefinition {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let conf = dir + "/glance-api.conf"
        try """
            [DEFAULT]
            enabled_backends = \(id):file
            [glance_store]
            default_backend = \(id)
            [\(id)]
            filesystem_store_datadir = \(datadir)
            \(storeOptions)
            [os_glance_staging_store]
            filesystem_store_datadir = \(dir)/staging
            [os_glance_tasks_store]
            filesystem_store_datadir = \(dir)/tasks
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        let source = try ConfigLoader.load([.file(conf)]).get()
        return try GlanceConfiguration.validate(source).get().store(id)!
    }

    func makeStore() async throws -> any Store { try FileStore(definition: definition(), logger: Logger(label: "test")) }

    func seed(_ name: String, _ bytes: [UInt8]) async throws {
        #expect(FileManager.default.createFile(atPath: datadir + "/" + name, contents: Data(bytes)))
    }
}

@Suite struct FileStoreConformanceTests {
    @Test(arguments: ConformanceCase.allCases)
    func conformance(_ c: ConformanceCase) async throws {
        try await c.run(FileHarness())
    }
}
