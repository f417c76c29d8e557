import Foundation
import Logging
import Testing
import GlanceConfig
@testable import GlanceStore

@Suite struct StoreRegistryTests {
    @Test func registryHoldsEnabledStoresInOrderAndReservedApart() throws {
        let dir = NSTemporaryDirectory() + "storefs-registry-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let conf = dir + "/glance-api.conf"
        try """
            [DEFAULT]
            enabled_backends = slow:file, vol:s3, fast:file
            [glance_store]
            default_backend = fast
            [fast]
            filesystem_store_datadir = \(dir)/fast
            [slow]
            filesystem_store_datadir = \(dir)/slow
            [os_glance_staging_store]
            filesystem_store_datadir = \(dir)/staging
            filesystem_store_file_perm = 600
            [os_glance_tasks_store]
            filesystem_store_datadir = \(dir)/tasks
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        let configuration = try GlanceConfiguration.validate(try ConfigLoader.load([.file(conf)]).get()).get()
        let registry = try StoreRegistry(configuration: configuration, logger: Logger(label: "t"))
        #expect(registry.stores.map(\.id) == ["slow", "fast"])
        #expect(registry.unavailable.map(\.id) == ["vol"])
        #expect(registry.defaultStoreID == "fast")
        #expect(registry.store("os_glance_staging_store") == nil)
        #expect(Set(registry.reserved.keys) == ["os_glance_staging_store", "os_glance_tasks_store"])
        // "Not used", says Glance's help text; honoured in practice (reference §1.8).
        #expect(registry.reserved["os_glance_staging_store"]?.settings.filePermissions == 0o600)
        #expect(FileManager.default.fileExists(atPath: dir + "/staging"))
        #expect(registry.store("fast")?.capabilities.isCapable(of: [.readRandom, .writeAccess, .rename]) == true)
        #expect(registry.store("fast")?.capabilities.glanceBits == 79)  // file's _CAPABILITIES in glance_store
    }
}
