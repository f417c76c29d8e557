import Foundation
import Glibc
import Logging
import Testing
import GlanceConfig
@testable import GlanceStore

/// A small tmpfs, so free-space decisions and ENOSPC are real, not simulated.
final class SmallTmpfs {
    let path: String
    init(bytes: Int) throws {
        path = NSTemporaryDirectory() + "storefs-tmpfs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let status = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", path])
        guard status == 0 else { throw StoreError.backend("mounting a tmpfs failed: the tests need root") }
    }
    deinit {
        _ = try? run("/bin/umount", [path])
        try? FileManager.default.removeItem(atPath: path)
    }
}

@discardableResult
func run(_ tool: String, _ args: [String]) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = args
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus
}

@Suite struct FileStoreTests {
    let logger = Logger(label: "test")

    @Test func locationIsGlances() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition(), logger: logger)
        let result = try await writeImage(store, "0b7e0cfe-0f2c-4a3a-9b8e-1d2c3b4a5f60", [1, 2])
        #expect(result.location == "file://\(h.datadir)/0b7e0cfe-0f2c-4a3a-9b8e-1d2c3b4a5f60")
        #expect(result.metadata == ["store": "fast"])
    }

    @Test func datadirWithTrailingSlashGivesNoDoubleSlash() async throws {
        let h = FileHarness()
        _ = try h.definition()  // writes the config file
        let text = try String(contentsOfFile: h.dir + "/glance-api.conf", encoding: .utf8)
            .replacingOccurrences(of: "filesystem_store_datadir = \(h.datadir)\n", with: "filesystem_store_datadir = \(h.datadir)/\n")
        try text.write(toFile: h.dir + "/glance-api.conf", atomically: true, encoding: .utf8)
        let c = try GlanceConfiguration.validate(try ConfigLoader.load([.file(h.dir + "/glance-api.conf")]).get()).get()
        let store = try FileStore(definition: c.store("fast")!, logger: logger)
        #expect(try await writeImage(store, "x", [1]).location == "file://\(h.datadir)/x")
    }

    @Test func missingDatadirsAreCreated() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition(), logger: logger)
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: h.datadir, isDirectory: &isDir) && isDir.boolValue)
        #expect(store.isWritable)
    }

    @Test func onlyRegularFilesAreImages() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition(), logger: logger)
        try await h.seed("real", [1])
        try FileManager.default.createDirectory(atPath: h.datadir + "/subdir", withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: h.datadir + "/link", withDestinationPath: h.datadir + "/real")
        #expect(mkfifo(h.datadir + "/fifo", 0o600) == 0)
        #expect(try await store.list().map(\.name) == ["real"])
        await #expect(throws: StoreError.notFound(image: "link")) { try await store.stat("link") }
        await #expect(throws: StoreError.notFound(image: "subdir")) { try await store.openForReading("subdir") }
    }

    @Test func leftoverPartialFilesAreRemovedAndNeverListed() async throws {
        let h = FileHarness()
        let def = try h.definition()
        try FileManager.default.createDirectory(atPath: h.datadir, withIntermediateDirectories: true)
        try await h.seed(FileStore.partialPrefix + "deadbeef", pattern(100))
        try await h.seed("image", [1])
        let store = try FileStore(definition: def, logger: logger)
        #expect(try await store.list().map(\.name) == ["image"])
        #expect(!FileManager.default.fileExists(atPath: h.datadir + "/" + FileStore.partialPrefix + "deadbeef"))
    }

    @Test func anAbandonedWriterLeavesNothing() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition(), logger: logger)
        do {
            let writer = try await store.beginWrite("abandoned", sizeHint: nil)
            try await writer.write(pattern(1_000_000))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.datadir) == [])
    }

    @Test func filePermIsAppliedAndDatadirGetsSearchBits() async throws {
        let h = FileHarness()
        try FileManager.default.createDirectory(atPath: h.datadir, withIntermediateDirectories: true)
        chmod(h.datadir, 0o700)
        let store = try FileStore(definition: h.definition("filesystem_store_file_perm = 640"), logger: logger)
        try await writeImage(store, "img", [1, 2, 3])
        var st = stat()
        stat(h.datadir + "/img", &st)
        #expect(st.st_mode & 0o7777 == 0o640)
        stat(h.datadir, &st)
        #expect(st.st_mode & 0o7777 == 0o710)
    }

    @Test func thinProvisioningLeavesHolesForZeroChunks() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition("filesystem_thin_provisioning = true\nfilesystem_store_chunk_size = 65536"),
                                  logger: logger)
        // 4 MiB of zeroes between two data chunks, and a zero tail: written in odd-sized pieces so the
        // chunk boundaries do not line up with the writes.
        let bytes = pattern(65_536, seed: 1) + [UInt8](repeating: 0, count: 4 << 20) + pattern(1000, seed: 2)
            + [UInt8](repeating: 0, count: 65_536 * 2)
        let result = try await writeImage(store, "thin", bytes, piece: 100_003)
        #expect(result.size == UInt64(bytes.count))
        #expect(try await store.computeDigests(of: "thin").checksum == md5Hex(bytes))
        #expect(try await readAll(store, "thin") == bytes)
        var st = stat()
        stat(h.datadir + "/thin", &st)
        #expect(Int(st.st_size) == bytes.count)
        #expect(Int(st.st_blocks) * 512 < 1 << 20, "allocated \(st.st_blocks * 512) bytes")
    }

    @Test func withoutThinProvisioningZeroesAreWritten() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition(), logger: logger)
        try await writeImage(store, "thick", [UInt8](repeating: 0, count: 4 << 20))
        var st = stat()
        stat(h.datadir + "/thick", &st)
        #expect(Int(st.st_blocks) * 512 >= 4 << 20)
    }

    @Test func metadataFileBecomesLocationMetadata() async throws {
        let h = FileHarness()
        try FileManager.default.createDirectory(atPath: h.dir, withIntermediateDirectories: true)
        let meta = h.dir + "/meta.json"
        try "[{\"id\": \"other\", \"mountpoint\": \"/nowhere\"}, {\"id\": \"nfs-share-1\", \"mountpoint\": \"\(h.dir)\"}]"
            .write(toFile: meta, atomically: true, encoding: .utf8)
        let store = try FileStore(definition: h.definition("filesystem_store_metadata_file = \(meta)"), logger: logger)
        let result = try await writeImage(store, "img", [1])
        #expect(result.metadata == ["id": "nfs-share-1", "mountpoint": h.dir, "store": "fast"])
        let attributes = try await store.attributes(of: "img")
        #expect(attributes["location_metadata.id"] == "nfs-share-1")
    }

    @Test func checksumsAreKeptAsAttributesOnceComputed() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition(), logger: logger)
        let bytes = pattern(70_000)
        let result = try await writeImage(store, "img", bytes)
        // Nothing is hashed while writing (the write runs at the disk's rate); asked for, then kept.
        #expect(result.checksum == nil)
        #expect(try await store.attributes(of: "img")["checksum"] == nil)
        #expect(store.capabilities.contains(.keepDigests))
        try await store.keepDigests(try await store.computeDigests(of: "img"), of: "img")
        let attributes = try await store.attributes(of: "img")
        #expect(attributes["checksum"] == md5Hex(bytes))
        #expect(attributes["os_hash_algo"] == "sha512")
        #expect(attributes["os_hash_value"] == sha512Hex(bytes))
        // Rewritten in the datadir behind our back (its xattrs stay): the kept hashes no longer describe it.
        let fd = open(h.datadir + "/img", O_WRONLY)
        #expect(pwrite(fd, [0xFF], 1, 10) == 1)
        close(fd)
        #expect(try await store.attributes(of: "img")["checksum"] == nil)
        // Hashes written by earlier versions (no stamp) are trusted as they are.
        #expect(try run("/usr/bin/setfattr", ["-x", "user.glance.storefs_hashed", h.datadir + "/img"]) == 0)
        #expect(try await store.attributes(of: "img")["checksum"] == md5Hex(bytes))
    }

    @Test func modificationTimeIsKept() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition(), logger: logger)
        try await writeImage(store, "img", [1])
        let when = Date(timeIntervalSince1970: 1_500_000_000.25)
        try await store.setModificationTime("img", to: Timestamp(when))
        let info = try await store.stat("img")
        #expect(abs(info.modificationTime.date.timeIntervalSince1970 - when.timeIntervalSince1970) < 0.001)
    }

    @Test func capacityIsTheFileSystems() async throws {
        let fs = try SmallTmpfs(bytes: 4 << 20)
        let store = try multiDirStore([(fs.path, 0)], h: FileHarness())
        let capacity = try await store.capacity()
        #expect(capacity.totalBytes == 4 << 20)
        #expect(capacity.availableBytes == 4 << 20)
        try await writeImage(store, "img", pattern(1 << 20))
        #expect(try await store.capacity().availableBytes == 3 << 20)
    }

    /// A file store over the given `(path, priority)` datadirs.
    func multiDirStore(_ dirs: [(String, Int)], h: FileHarness) throws -> FileStore {
        try FileManager.default.createDirectory(atPath: h.dir, withIntermediateDirectories: true)
        let conf = h.dir + "/multi.conf"
        try """
            [DEFAULT]
            enabled_backends = fast:file
            [glance_store]
            default_backend = fast
            [fast]
            filesystem_store_datadir =
            \(dirs.map { "filesystem_store_datadirs = \($0.0):\($0.1)" }.joined(separator: "\n"))
            [os_glance_staging_store]
            filesystem_store_datadir = \(h.dir)/staging
            [os_glance_tasks_store]
            filesystem_store_datadir = \(h.dir)/tasks
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        let c = try GlanceConfiguration.validate(try ConfigLoader.load([.file(conf)]).get()).get()
        return try FileStore(definition: c.store("fast")!, logger: logger)
    }

    @Test func datadirsByPriorityThenFreeSpace() async throws {
        // As observed with Glance: 300 kB goes to the prio-200 dir; 600 kB does not fit there and
        // goes to prio 10.
        let small = try SmallTmpfs(bytes: 512 << 10)
        let h = FileHarness()
        let store = try multiDirStore([(small.path, 200), (h.dir + "/big", 10)], h: h)
        let a = try await writeImage(store, "a", pattern(300_000), sizeHint: 300_000)
        #expect(a.location == "file://\(small.path)/a")
        let b = try await writeImage(store, "b", pattern(600_000), sizeHint: 600_000)
        #expect(b.location == "file://\(h.dir)/big/b")
        #expect(Set(try await store.list().map(\.name)) == ["a", "b"])
        #expect(try await readAll(store, "a") == pattern(300_000))
        #expect(store.location(of: "b") == "file://\(h.dir)/big/b")
        // An id present in any datadir is a duplicate.
        await #expect(throws: StoreError.duplicate(image: "a")) { try await store.beginWrite("a", sizeHint: 10) }
        try await store.delete("a")
        #expect(try await store.list().map(\.name) == ["b"])
    }

    @Test func withinAPriorityTheDirectoryWithMostFreeSpaceWins() async throws {
        let small = try SmallTmpfs(bytes: 1 << 20), large = try SmallTmpfs(bytes: 8 << 20)
        let h = FileHarness()
        let store = try multiDirStore([(small.path, 5), (large.path, 5)], h: h)
        #expect(try await writeImage(store, "x", [1], sizeHint: 1).location == "file://\(large.path)/x")
    }

    @Test func diskFullIsStorageFullAndLeavesNoResidue() async throws {
        let small = try SmallTmpfs(bytes: 1 << 20)
        let h = FileHarness()
        let store = try multiDirStore([(small.path, 0)], h: h)
        let writer = try await store.beginWrite("big", sizeHint: nil)
        var failure: StoreError?
        do {
            for _ in 0..<8 { try await writer.write(pattern(256 << 10)) }
            _ = try await writer.publish()
        } catch { failure = error }
        guard case .storageFull = failure else { Issue.record("expected StorageFull, got \(String(describing: failure))"); return }
        #expect(try await store.list().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: small.path) == [])
        let capacity = try await store.capacity()
        #expect(capacity.availableBytes == 1 << 20, "the partial data's space was released")
        // Nothing fits at all: refused before writing.
        await #expect(throws: StoreError.self) { try await store.beginWrite("huge", sizeHint: 2 << 20) }
    }

    @Test func namesThatAreNotFileNamesAreRefused() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition(), logger: logger)
        for bad in ["", ".", "..", "a/b", String(repeating: "x", count: 256)] {
            await #expect(throws: StoreError.invalidImageName(bad)) { try await store.beginWrite(bad, sizeHint: nil) }
        }
    }
}
