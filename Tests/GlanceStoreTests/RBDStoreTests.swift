import Foundation
import Logging
import Testing
import GlanceConfig
@testable import GlanceStore

/// A real Ceph cluster from Debian's packages, started by `scripts/test-ceph.sh`: the one that
/// `scripts/test.sh` started for the whole run (STOREFS_TEST_CEPH_CONF), else one of our own for
/// this test, stopped when it is done. Tests fail, never skip, when Ceph cannot start.
final class CephCluster: @unchecked Sendable {
    let conf: String
    private let backend: ScriptedBackend
    var dir: String { backend.dir }

    static let script = repositoryFile("scripts/test-ceph.sh")

    init() throws {
        let shared = ProcessInfo.processInfo.environment["STOREFS_TEST_CEPH_CONF"].flatMap { $0.isEmpty ? nil : $0 }
        backend = try ScriptedBackend(script: Self.script, sharedDir: shared.map { ($0 as NSString).deletingLastPathComponent }, name: "ceph")
        conf = shared ?? backend.started.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(FileManager.default.fileExists(atPath: conf) && conf.hasSuffix("ceph.conf"), "Ceph did not start: \(conf)")
    }

    /// A CLI tool against this cluster; its output, or a failure with what it printed.
    @discardableResult
    func run(_ tool: String, _ args: [String]) throws -> String {
        let file = NSTemporaryDirectory() + "storefs-ceph-out-" + UUID().uuidString
        defer { unlink(file); unlink(file + ".err") }
        let pid = try spawn(["/usr/bin/" + tool, "-c", conf] + args, stdout: file)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let out = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        try #require(status == 0, "\(tool) \(args.joined(separator: " ")) failed: \(out)")
        return out
    }

    /// A pool of its own for one test (one placement group: made in about a second).
    func makePool() throws -> String {
        let pool = "t-" + UUID().uuidString.prefix(8).lowercased()
        try run("ceph", ["osd", "pool", "create", pool, "1", "1"])
        try run("rbd", ["pool", "init", pool])
        return pool
    }

    func removePool(_ pool: String) {
        _ = try? run("ceph", ["osd", "pool", "rm", pool, pool, "--yes-i-really-really-mean-it"])
    }
}

/// The rbd store `ceph` of a glance-api.conf, as the registry would open it.
func rbdStore(config path: String) throws -> RBDStore {
    let configuration = try GlanceConfiguration.validate(try ConfigLoader.load([.file(path)]).get()).get()
    return try RBDStore(definition: try #require(configuration.store("ceph")), logger: Logger(label: "test"))
}

/// The rbd store on a pool of its own; seeding imports with the `rbd` CLI.
final class RBDHarness: StoreHarness, @unchecked Sendable {
    let ceph: CephCluster
    let pool: String
    let dir = NSTemporaryDirectory() + "storefs-rbd-" + UUID().uuidString
    let options: String

    init(options: String = "") throws {
        ceph = try CephCluster()
        pool = try ceph.makePool()
        self.options = options
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    deinit {
        ceph.removePool(pool)
        try? FileManager.default.removeItem(atPath: dir)
    }

    var config: String {
        """
        [DEFAULT]
        enabled_backends = local:file, ceph:rbd
        [glance_store]
        default_backend = ceph
        [local]
        filesystem_store_datadir = \(dir)/local
        [ceph]
        rbd_store_pool = \(pool)
        rbd_store_ceph_conf = \(ceph.conf)
        \(options)
        """
    }

    func writeConfig() throws -> String {
        let conf = dir + "/glance-api.conf"
        try config.write(toFile: conf, atomically: true, encoding: .utf8)
        return conf
    }

    func makeStore() async throws -> any Store { try rbdStore(config: writeConfig()) }

    func seed(_ name: String, _ bytes: [UInt8]) async throws {
        let file = dir + "/seed-" + UUID().uuidString
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { unlink(file) }
        try ceph.run("rbd", ["import", "--no-progress", "--dest-pool", pool, file, name])
    }

    func images() throws -> [String] {
        try ceph.run("rbd", ["ls", "-p", pool]).split(separator: "\n").map(String.init).sorted()
    }
}

@Suite struct RBDStoreTests {
    @Test(arguments: ConformanceCase.allCases)
    func conformance(_ c: ConformanceCase) async throws {
        try await c.run(RBDHarness(options: "rbd_store_chunk_size = 1"))
    }

    @Test func writesFollowGlancesLayout() async throws {
        let h = try RBDHarness(options: "rbd_store_chunk_size = 4")
        let store = try await h.makeStore()
        let id = "5b1a7c2e-9d3f-4e6a-8b0c-1f2e3d4c5b6a"
        let bytes = pattern(9_000_000, seed: 21)
        let result = try await writeImage(store, id, bytes, piece: 1 << 20)
        #expect(try h.images() == [id])  // no temporary name left
        let info = try JSONSerialization.jsonObject(with: Data(h.ceph.run("rbd", ["info", "--format", "json", "\(h.pool)/\(id)"]).utf8)) as! [String: Any]
        #expect(info["format"] as? Int == 2)
        #expect(info["order"] as? Int == 22)  // 4 MiB objects
        #expect(info["size"] as? Int == 9_000_000)
        #expect((info["features"] as? [String])?.contains("layering") == true)
        let snaps = try JSONSerialization.jsonObject(with: Data(h.ceph.run("rbd", ["snap", "ls", "--format", "json", "\(h.pool)/\(id)"]).utf8)) as! [[String: Any]]
        #expect(snaps.map { $0["name"] as? String } == ["snap"])
        #expect(try h.ceph.run("rbd", ["info", "\(h.pool)/\(id)@snap"]).contains("protected: True"))
        let fsid = try h.ceph.run("ceph", ["fsid"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(result.location == "rbd://\(fsid)/\(h.pool)/\(id)/snap")
        // And Nova/Cinder can clone it.
        try h.ceph.run("rbd", ["clone", "\(h.pool)/\(id)@snap", "\(h.pool)/vm-disk"])
        await #expect(throws: StoreError.inUseByStore(image: id)) { try await store.delete(id) }
        #expect(try await readAll(store, id, piece: 1 << 20) == bytes)
        let xattrs = try await store.attributes(of: id)
        #expect(xattrs["rbd.snap_clones"] == "\(h.pool)/vm-disk")
        // Nothing hashed at write time; on demand, then kept as image metadata.
        #expect(result.checksum == nil && xattrs["checksum"] == nil)
        try await store.keepDigests(try await store.computeDigests(of: id), of: id)
        let kept = try await store.attributes(of: id)
        #expect(kept["checksum"] == md5Hex(bytes) && kept["os_hash_value"] == sha512Hex(bytes) && kept["os_hash_algo"] == "sha512")
        // Kept hashes of an image changed since (here resized by the rbd CLI) are not shown.
        try h.ceph.run("rbd", ["resize", "--no-progress", "--size", "10M", "\(h.pool)/\(id)"])
        #expect(try await store.attributes(of: id)["checksum"] == nil)
        try h.ceph.run("rbd", ["rm", "--no-progress", "\(h.pool)/vm-disk"])
        try await store.delete(id)
        #expect(try h.images().isEmpty)
    }

    @Test func listingReadsHeadersAsLibrbdSeesThem() async throws {
        let h = try RBDHarness()
        let store = try await h.makeStore()
        // Images made by the rbd CLI (sizes of its own), and one by us with a time set by utimens.
        for i in 0..<24 { try h.ceph.run("rbd", ["create", "--size", "\(i + 1)M", "\(h.pool)/cli-\(i)"]) }
        try await writeImage(store, "ours", pattern(777))
        let time = Timestamp(seconds: 1_500_000_000, nanoseconds: 5)
        try await store.setModificationTime("ours", to: time)
        let listed = Dictionary(uniqueKeysWithValues: try await store.list().map { ($0.name, $0) })
        let theirs = try JSONSerialization.jsonObject(with: Data(h.ceph.run("rbd", ["ls", "-l", "--format", "json", h.pool]).utf8)) as! [[String: Any]]
        let heads = theirs.filter { $0["snapshot"] == nil }
        #expect(Set(listed.keys) == Set(heads.compactMap { $0["image"] as? String }))
        for image in heads {
            let name = image["image"] as! String
            #expect(listed[name]?.size == (image["size"] as? NSNumber)?.uint64Value, "\(name)")
        }
        #expect(listed["ours"]?.modificationTime == time)
        #expect(try await store.stat("ours").modificationTime == time)
        #expect(try await store.stat("cli-3").size == 4 << 20)
        let made = try #require(listed["cli-0"]).modificationTime.date
        #expect(abs(made.timeIntervalSinceNow) < 300, "librbd's modify timestamp: \(made)")
    }

    @Test func thinProvisioningSkipsZeroObjects() async throws {
        let h = try RBDHarness(options: "rbd_store_chunk_size = 1\nrbd_thin_provisioning = true")
        let store = try await h.makeStore()
        let bytes = pattern(1 << 20, seed: 3) + [UInt8](repeating: 0, count: 6 << 20) + pattern(100, seed: 4)
        _ = try await writeImage(store, "thin", bytes, piece: 300_000)
        #expect(try await readAll(store, "thin", piece: 1 << 20) == bytes)
        let du = try JSONSerialization.jsonObject(with: Data(h.ceph.run("rbd", ["du", "--format", "json", "\(h.pool)/thin"]).utf8)) as! [String: Any]
        // The data sits in the objects `snap` shares with the head: one 1 MiB object and the tail's.
        let used = (du["images"] as? [[String: Any]])?.compactMap { $0["used_size"] as? Int }.reduce(0, +)
        #expect(used == (1 << 20) + 100, "only the objects with data exist: \(du)")
    }

    @Test func modificationTimeSurvivesAndLeftoversAreHidden() async throws {
        let h = try RBDHarness()
        let store = try await h.makeStore()
        try await writeImage(store, "img", [1, 2, 3])
        let time = Timestamp(seconds: 1_600_000_000, nanoseconds: 123_456_789)
        try await store.setModificationTime("img", to: time)
        #expect(try await store.stat("img").modificationTime == time)
        // A write cut short (kill -9) leaves only a temporary name, which is never listed.
        let writer = try await store.beginWrite("half", sizeHint: nil)
        try await writer.write(pattern(3 << 20))
        #expect(try await store.list().map(\.name) == ["img"])
        #expect(try h.images().contains { $0.hasPrefix(RBDStore.partialPrefix + "half.") })
        await writer.abort()
        #expect(try h.images() == ["img"])
        // statfs figures: ceph-mgr has them a few seconds after the cluster starts.
        var capacity: StoreCapacity?
        for _ in 0..<40 where capacity == nil {
            capacity = try? await store.capacity()
            if capacity == nil { try await Task.sleep(for: .milliseconds(250)) }
        }
        let figures = try #require(capacity)
        #expect(figures.totalBytes >= 1 << 30 && figures.availableBytes <= figures.totalBytes)
    }

    @Test func glancesUserAndPoolWork() async throws {
        let ceph = try CephCluster()
        let dir = NSTemporaryDirectory() + "storefs-rbd-user-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let conf = try glanceUserConfig(ceph, dir)
        let store = try rbdStore(config: conf)
        let name = "user-" + UUID().uuidString
        try await writeImage(store, name, pattern(5000))
        #expect(try await readAll(store, name) == pattern(5000))
        try await store.delete(name)
        // A user the cluster does not know cannot connect: an error, not a hang.
        try String(contentsOfFile: conf, encoding: .utf8).replacingOccurrences(of: "rbd_store_user = glance", with: "rbd_store_user = nobody")
            .write(toFile: conf, atomically: true, encoding: .utf8)
        let stranger = try rbdStore(config: conf)
        await #expect { try await stranger.list() } throws: { error in
            guard case StoreError.remoteServiceUnavailable(let text) = error else { return false }
            return text.contains("connecting to the Ceph cluster")
        }
    }
}

/// A glance-api.conf as Glance's documentation sets up an rbd store: user `glance`, pool `images`.
func glanceUserConfig(_ ceph: CephCluster, _ dir: String) throws -> String {
    let conf = dir + "/glance-api.conf"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    // Glance 4.1.0 turns an unset rbd_store_user into the string 'None': name the user.
    try """
        [DEFAULT]
        enabled_backends = ceph:rbd
        [glance_store]
        default_backend = ceph
        [ceph]
        rbd_store_user = glance
        rbd_store_pool = images
        rbd_store_chunk_size = 2
        rbd_store_ceph_conf = \(ceph.conf)
        [os_glance_staging_store]
        filesystem_store_datadir = \(dir)/staging
        [os_glance_tasks_store]
        filesystem_store_datadir = \(dir)/tasks
        """.write(toFile: conf, atomically: true, encoding: .utf8)
    return conf
}

/// Glance's own rbd driver (python3-glance-store with python3-rbd) reads and deletes what we
/// write, and we read what it writes.
@Suite struct RBDGlanceInteropTests {
    func glance(_ args: [String]) throws -> [String: Any] {
        let out = try output("/usr/bin/python3", [GlanceInteropTests.tool] + args)
        return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "glance_store printed: \(out)")
    }

    @Test func glanceReadsAndDeletesWhatWeWrite() async throws {
        let ceph = try CephCluster()
        let dir = NSTemporaryDirectory() + "storefs-rbd-interop-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let conf = try glanceUserConfig(ceph, dir), store = try rbdStore(config: conf)
        let id = UUID().uuidString.lowercased()
        let bytes = pattern(5_000_000, seed: 41) + [UInt8](repeating: 0, count: 2 << 20) + pattern(999, seed: 42)
        let ours = try await writeImage(store, id, bytes, piece: 123_457)
        let theirs = try glance([conf, "get", "ceph", ours.location])
        #expect(theirs["size"] as? Int == bytes.count)
        #expect(theirs["read"] as? Int == bytes.count)
        #expect(theirs["md5"] as? String == md5Hex(bytes))
        #expect(theirs["sha512"] as? String == sha512Hex(bytes))
        _ = try glance([conf, "delete", "ceph", ours.location])
        await #expect(throws: StoreError.notFound(image: id)) { try await store.stat(id) }
    }

    @Test func weReadWhatGlanceWrites() async throws {
        let ceph = try CephCluster()
        let dir = NSTemporaryDirectory() + "storefs-rbd-interop-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let conf = try glanceUserConfig(ceph, dir), store = try rbdStore(config: conf)
        let id = UUID().uuidString.lowercased()
        let bytes = pattern(4_321_000, seed: 43)
        let source = dir + "/source.bin"
        #expect(FileManager.default.createFile(atPath: source, contents: Data(bytes)))
        let theirs = try glance([conf, "add", "ceph", id, source])
        #expect(try await store.stat(id).size == UInt64(bytes.count))
        #expect(try await readAll(store, id, piece: 1 << 20) == bytes)
        #expect(store.location(of: id) == theirs["location"] as? String)
        // Glance's checksum and multihash, from what the store holds.
        let ours = try await store.computeDigests(of: id)
        #expect(ours.checksum == theirs["checksum"] as? String)
        #expect(ours.multihash == theirs["multihash"] as? String)
        try await writeImage(store, id + "-copy", bytes)
        // Deleted by us as Glance deletes: snap unprotected and removed, then the image.
        try await store.delete(id)
        try await store.delete(id + "-copy")
        await #expect(throws: StoreError.notFound(image: id)) { try await store.stat(id) }
    }
}
