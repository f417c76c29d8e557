import Foundation
import Glibc
import Logging
import Testing
import GlanceConfig
import GlanceStore
@testable import StoreFS

/// Two file stores and a staging area in a scratch directory, behind a `StoreFilesystem` driven
/// directly, without FUSE: the same calls the adapter makes.
final class CoreFixture: @unchecked Sendable {
    let dir = NSTemporaryDirectory() + "storefs-core-" + UUID().uuidString
    let fs: StoreFilesystem
    let invalidated = InvalidationLog()

    /// The "cheap" store as a `PublishOnRename` when `remote` (a store whose renames cost round trips).
    private(set) var remote: PublishOnRename?

    init(readOnly: Bool = false, remote: Bool = false, renameWait: Duration = .seconds(30), holdLimit: UInt64 = 256 << 20) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let conf = dir + "/glance-api.conf"
        try """
            [DEFAULT]
            enabled_backends = fast:file, cheap:file
            [glance_store]
            default_backend = fast
            [fast]
            filesystem_store_datadir = \(dir)/fast
            store_description = Fast
            [cheap]
            filesystem_store_datadir = \(dir)/cheap
            [os_glance_staging_store]
            filesystem_store_datadir = \(dir)/staging
            [os_glance_tasks_store]
            filesystem_store_datadir = \(dir)/tasks
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        let configuration = try GlanceConfiguration.validate(try ConfigLoader.load([.file(conf)]).get()).get()
        let logger = Logger(label: "test")
        let registry = try StoreRegistry(configuration: configuration, logger: logger)
        var options = MountOptions()
        options.readOnly = readOnly
        let staging = try StagingArea(datadir: dir + "/staging", logger: logger)
        let wrapped = remote ? registry.stores.first { $0.id == "cheap" }.map(PublishOnRename.init) : nil
        self.remote = wrapped
        fs = StoreFilesystem(stores: registry.stores.map {
            MountedStore(store: $0.id == "cheap" ? wrapped ?? $0 : $0, description: $0.id == "fast" ? "Fast" : nil, isDefault: $0.id == "fast")
        }, staging: staging, options: options, logger: logger, catalogue: nil, renameWait: renameWait, holdLimit: holdLimit)
        let log = invalidated
        fs.onInvalidate { log.append($0) }
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func datadir(_ store: String) -> String { "\(dir)/\(store)" }
    func seed(_ store: String, _ name: String, _ bytes: [UInt8]) {
        _ = FileManager.default.createFile(atPath: "\(datadir(store))/\(name)", contents: Data(bytes))
    }
    func contents(_ store: String, _ name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: "\(datadir(store))/\(name)").map { [UInt8]($0) }
    }

    var fast: UInt64 { fs.inodes.storeIno(0) }
    var cheap: UInt64 { fs.inodes.storeIno(1) }

    /// The errno a call fails with, or nil when it succeeds.
    func errno<T>(_ body: () async throws -> T) async -> Int32? {
        do { _ = try await body(); return nil } catch let error as FSError { return error.errno } catch { return -1 }
    }
}

final class InvalidationLog: @unchecked Sendable {
    private let lock = NSLock()
    private var inodes: [UInt64] = []
    func append(_ ino: UInt64) { lock.withLock { inodes.append(ino) } }
    var all: [UInt64] { lock.withLock { inodes } }
}

func randomBytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var state = seed &* 0x9E3779B97F4A7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

/// A file store that says its renames are costly (as rbd and swift): what the file system does
/// with rsync's temporary files there, and which calls reach the store, without a backend.
final class PublishOnRename: Store, @unchecked Sendable {
    let inner: any Store
    private let lock = NSLock()
    private var calls: [String] = []
    init(_ inner: any Store) { self.inner = inner }

    /// "begin NAME", "rename A B", "mtime NAME", "delete NAME", in order.
    var log: [String] { lock.withLock { calls } }
    private func note(_ call: String) { lock.withLock { calls.append(call) } }

    var id: String { inner.id }
    var type: StoreType { inner.type }
    var capabilities: Capabilities { inner.capabilities.union(.publishOnRename) }
    func list() async throws(StoreError) -> [ImageInfo] { try await inner.list() }
    func stat(_ name: String) async throws(StoreError) -> ImageInfo { try await inner.stat(name) }
    func openForReading(_ name: String) async throws(StoreError) -> any ImageReader { try await inner.openForReading(name) }
    func beginWrite(_ name: String, sizeHint: UInt64?) async throws(StoreError) -> any ImageWriter {
        note("begin \(name)")
        return try await inner.beginWrite(name, sizeHint: sizeHint)
    }
    func rename(_ name: String, to newName: String, replacing: Bool) async throws(StoreError) {
        note("rename \(name) \(newName)")
        try await inner.rename(name, to: newName, replacing: replacing)
    }
    func delete(_ name: String) async throws(StoreError) {
        note("delete \(name)")
        try await inner.delete(name)
    }
    func setModificationTime(_ name: String, to time: Timestamp) async throws(StoreError) {
        note("mtime \(name)")
        try await inner.setModificationTime(name, to: time)
    }
    func capacity() async throws(StoreError) -> StoreCapacity { try await inner.capacity() }
    func location(of name: String) -> String { inner.location(of: name) }
    func attributes(of name: String) async throws(StoreError) -> [String: String] { try await inner.attributes(of: name) }
    func keepDigests(_ digests: ImageDigests, of name: String) async throws(StoreError) { try await inner.keepDigests(digests, of: name) }
    func shutdown() async { await inner.shutdown() }
    func leftovers() async throws(StoreError) -> [StoreLeftover] { try await inner.leftovers() }
}
