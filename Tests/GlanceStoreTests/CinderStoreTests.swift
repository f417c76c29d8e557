import Foundation
import Logging
import Testing
import GlanceConfig
@testable import GlanceStore

/// A real Cinder from Debian's packages (scripts/test-cinder.sh) with an RBD backend on the run's
/// Ceph and an NFS backend on nfs-ganesha, authenticating with the run's Keystone: the one
/// `scripts/test.sh` started (STOREFS_TEST_CINDER_DIR), else one of our own for this test.
final class CinderService: @unchecked Sendable {
    let ceph: CephCluster
    let keystone: KeystoneServer
    private let backend: ScriptedBackend
    var dir: String { backend.dir }

    static let script = repositoryFile("scripts/test-cinder.sh")
    static let tool = repositoryFile("Tests/Interop/cinder_tool.py")

    init() throws {
        ceph = try CephCluster()
        keystone = try KeystoneServer()
        backend = try ScriptedBackend(script: Self.script, sharedDir: ProcessInfo.processInfo.environment["STOREFS_TEST_CINDER_DIR"],
                                      name: "cinder", arguments: [ceph.conf, keystone.dir])
        try #require(FileManager.default.fileExists(atPath: dir + "/port"), "Cinder did not start (see \(dir)/log)")
    }

    /// The test tool (Cinder's API and the backends' own routes, not the driver).
    @discardableResult
    func tool(_ args: [String]) throws -> String {
        try output("/usr/bin/python3", [Self.tool, dir, keystone.dir, ceph.conf] + args).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Volume {
        let id: String, name: String, status: String, size: Int, metadata: [String: String], attachments: Int
    }

    func volumes(type: String) throws -> [Volume] {
        let list = try #require(try JSONSerialization.jsonObject(with: Data(tool(["volumes", type]).utf8)) as? [[String: Any]])
        return list.map {
            Volume(id: $0["id"] as! String, name: $0["name"] as? String ?? "", status: $0["status"] as! String, size: $0["size"] as! Int,
                   metadata: ($0["metadata"] as? [String: String]) ?? [:], attachments: $0["attachments"] as! Int)
        }
    }
}

/// A cinder store on a volume type of its own (so tests sharing one Cinder never see each other's
/// volumes), on the RBD or the NFS backend.
final class CinderHarness: StoreHarness, @unchecked Sendable {
    let cinder: CinderService
    let backend: String
    let volumeType = "t-" + UUID().uuidString.prefix(8).lowercased()
    let dir = NSTemporaryDirectory() + "storefs-cinder-" + UUID().uuidString

    init(backend: String) throws {
        cinder = try CinderService()
        self.backend = backend
        try cinder.tool(["type", volumeType, backend + "-1"])
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    deinit {
        _ = try? cinder.tool(["drop-type", volumeType])
        try? FileManager.default.removeItem(atPath: dir)
    }

    func config(id: String = "vols", type: String? = nil, extra: String = "") -> String {
        """
        [DEFAULT]
        enabled_backends = \(id):cinder
        [glance_store]
        default_backend = \(id)
        [\(id)]
        cinder_store_auth_address = \(cinder.keystone.authAddress)
        cinder_store_user_name = glance
        cinder_store_password = glancepw
        cinder_store_project_name = images
        cinder_volume_type = \(type ?? volumeType)
        cinder_state_transition_timeout = 60
        \(extra)
        [os_glance_staging_store]
        filesystem_store_datadir = \(dir)/staging
        [os_glance_tasks_store]
        filesystem_store_datadir = \(dir)/tasks
        """
    }

    func store(_ text: String? = nil, id: String = "vols") throws -> CinderStore {
        let path = dir + "/glance-api-\(UUID().uuidString.prefix(6)).conf"
        try (text ?? config(id: id)).write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try GlanceConfiguration.validate(try ConfigLoader.load([.file(path)]).get()).get()
        return try CinderStore(definition: try #require(configuration.store(id)), logger: Logger(label: "test"))
    }

    func makeStore() async throws -> any Store {
        setenv("CEPH_CONF", cinder.ceph.conf, 1)  // librados finds client.cinder's keyring by it
        return try store()
    }

    func seed(_ name: String, _ bytes: [UInt8]) async throws {
        let file = dir + "/seed-" + UUID().uuidString
        #expect(FileManager.default.createFile(atPath: file, contents: Data(bytes)))
        defer { unlink(file) }
        try cinder.tool(["seed", volumeType, name, file])
    }

    func volumes() throws -> [CinderService.Volume] { try cinder.volumes(type: volumeType) }
}

@Suite(.serialized) struct CinderRBDStoreTests {
    @Test(arguments: ConformanceCase.allCases)
    func conformance(_ c: ConformanceCase) async throws { try await c.run(try CinderHarness(backend: "rbd")) }
}

@Suite(.serialized) struct CinderNFSStoreTests {
    @Test(arguments: ConformanceCase.allCases)
    func conformance(_ c: ConformanceCase) async throws { try await c.run(try CinderHarness(backend: "nfs")) }
}

@Suite struct CinderStoreTests {
    /// What Glance leaves in Cinder, exactly: `image-<id>`, whole GiB, Glance's three metadata keys,
    /// the read-only flag; nothing else left (no partial volume, no attachment).
    @Test(arguments: ["rbd", "nfs"])
    func writesAsGlanceDoes(_ backend: String) async throws {
        let h = try CinderHarness(backend: backend)
        let store = try await h.makeStore()
        let id = UUID().uuidString.lowercased()
        let bytes = pattern(3_000_000, seed: 61)
        let result = try await writeImage(store, id, bytes, piece: 200_001)
        let volumes = try h.volumes()
        try #require(volumes.count == 1, "volumes: \(volumes.map(\.name))")
        let v = volumes[0]
        #expect(v.name == "image-" + id)
        #expect(v.size == 1)
        #expect(v.status == "available")
        #expect(v.attachments == 0)
        #expect(v.metadata["glance_image_id"] == id)
        #expect(v.metadata["image_size"] == String(bytes.count))
        #expect(v.metadata["image_owner"]?.count == 32)
        #expect(v.metadata["readonly"] == "True")
        #expect(result.location == "cinder://vols/\(v.id)")
        #expect(store.location(of: id) == result.location)
        // The bytes as the backend's own route reads them.
        #expect(try h.cinder.tool(["read", v.id, String(bytes.count)]) == md5Hex(bytes))
        let attributes = try await store.attributes(of: id)
        #expect(attributes["cinder.volume_id"] == v.id)
        #expect(attributes["cinder.volume_type"] == h.volumeType)
        // A read attaches read-only, shared, and gives the attachment back when idle.
        #expect(try await readAll(store, id, piece: 1 << 20) == bytes)
        #expect(try await store.attributes(of: id)["cinder.transport"] == backend)
        // Idle for 2 s, then deleted (Cinder's detach of an NFS volume takes seconds on a loaded machine).
        let deadline = ContinuousClock.now + .seconds(30)
        try await Task.sleep(for: .seconds(2))
        while try h.volumes().map(\.attachments) != [0] && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(250)) }
        #expect(try h.volumes().map(\.attachments) == [0])
    }

    /// Two cinder stores of one Cinder, told apart by `cinder_volume_type`.
    @Test func storesOfOneCinderListTheirOwnType() async throws {
        let a = try CinderHarness(backend: "rbd"), b = try CinderHarness(backend: "nfs")
        let storeA = try await a.makeStore(), storeB = try b.store()
        try await writeImage(storeA, "in-a", [1, 2, 3])
        try await writeImage(storeB, "in-b", [4, 5])
        try await b.seed("seeded-b", [6])
        #expect(try await storeA.list().map(\.name) == ["in-a"])
        #expect(Set(try await storeB.list().map(\.name)) == ["in-b", "seeded-b"])
        await #expect(throws: StoreError.notFound(image: "in-b")) { try await storeA.stat("in-b") }
    }

    /// A volume attached elsewhere (a Nova instance) is EBUSY to delete and stays.
    @Test func attachedVolumeIsBusy() async throws {
        let h = try CinderHarness(backend: "rbd")
        let store = try await h.makeStore()
        try await h.seed("busy", pattern(1000, seed: 62))
        let volume = try #require(try h.volumes().first)
        let attachment = try h.cinder.tool(["attach", volume.id])
        await #expect(throws: StoreError.inUseByStore(image: "busy")) { try await store.delete("busy") }
        #expect(try await store.list().map(\.name) == ["busy"])
        #expect(try await store.attributes(of: "busy")["cinder.status"] == "in-use")
        try h.cinder.tool(["detach", attachment])
        _ = try await waitUntil { try h.volumes().first?.status == "available" }
        try await store.delete("busy")
        #expect(try await store.list().isEmpty)
    }

    /// Unknown size: the volume grows by whole GiB as data arrives (detached, extended, attached again).
    @Test func unknownSizeGrowsByGiB() async throws {
        let h = try CinderHarness(backend: "nfs")
        let store = try await h.makeStore()
        let writer = try await store.beginWrite("grown", sizeHint: nil)
        let head = pattern(1 << 20, seed: 63), tail = pattern(3 << 20, seed: 64)
        try await writer.write(head)
        let zeros = [UInt8](repeating: 0, count: 8 << 20)
        for _ in 0..<128 { try await writer.write(zeros) }  // past 1 GiB: one extension
        try await writer.write(tail)
        let result = try await writer.publish()
        let size = (1 << 30) + (4 << 20)
        #expect(result.size == UInt64(size))
        let volume = try #require(try h.volumes().first)
        #expect(volume.size == 2)
        #expect(volume.metadata["image_size"] == String(size))
        let reader = try await store.openForReading("grown")
        #expect(try await reader.read(at: 0, count: head.count) == head)
        #expect(try await reader.read(at: UInt64(size - tail.count), count: tail.count) == tail)
        await reader.close()
    }

    /// Crash leftovers (`storefs-partial-*`) are never listed; young ones stay (maybe another mount's
    /// write in progress).
    @Test func partialVolumesAreHidden() async throws {
        let h = try CinderHarness(backend: "rbd")
        let store = try await h.makeStore()
        let writer = try await store.beginWrite("half", sizeHint: 10_000)
        try await writer.write(pattern(5000, seed: 65))
        #expect(try await store.list().isEmpty)
        #expect(try h.volumes().map { $0.name.hasPrefix("storefs-partial-half.") } == [true])
        // A second store starting now sees a young leftover: reported, not removed.
        _ = try h.store()
        try await Task.sleep(for: .seconds(2))
        // Still attached to our writer: not detached, not being deleted.
        #expect(try h.volumes().map { "\($0.status) \($0.attachments)" } == ["in-use 1"])
        await writer.abort()
        _ = try await waitUntil { try h.volumes().isEmpty }
    }
}

/// Polls `condition` (every 0.2 s, 60 s at most); whether it came true.
@discardableResult
func waitUntil(_ condition: () throws -> Bool) async throws -> Bool {
    for _ in 0..<300 {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(200))
    }
    #expect(Bool(false), "condition never came true")
    return false
}

/// Glance's own cinder driver (Debian's python3-glance-store 4.1.0 with os-brick) on the same
/// volumes: it reads what we write (RBD and NFS) and we read what it adds (RBD: its NFS add is broken
/// in 4.1.0, LP#2000584). It runs as Glance does, with os-brick's privsep through `sudo
/// glance-rootwrap` (filters of our own: the stock ones allow config files under /etc only), in a
/// private mount namespace where /etc/ceph holds client.cinder's keyring (where os-brick's rbd
/// connector looks) and mount.nfs is test-cinder.sh's stand-in (this kernel has no NFS client).
@Suite struct CinderGlanceInteropTests {
    let h: CinderHarness
    let conf: String

    init(backend: String) throws {
        h = try CinderHarness(backend: backend)
        let rootwrap = h.dir + "/rootwrap"
        try FileManager.default.createDirectory(atPath: rootwrap + "/filters", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: h.dir + "/etc-ceph", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: h.dir + "/mnt", withIntermediateDirectories: true)
        let keyring = (h.cinder.ceph.conf as NSString).deletingLastPathComponent + "/ceph.client.cinder.keyring"
        try FileManager.default.copyItem(atPath: keyring, toPath: h.dir + "/etc-ceph/ceph.client.cinder.keyring")
        try """
            [DEFAULT]
            filters_path=\(rootwrap)/filters
            exec_dirs=/sbin,/usr/sbin,/bin,/usr/bin,/usr/local/bin,/usr/local/sbin
            use_syslog=False
            """.write(toFile: rootwrap + "/rootwrap.conf", atomically: true, encoding: .utf8)
        try """
            [Filters]
            privsep-rootwrap: RegExpFilter, privsep-helper, root, privsep-helper, --config-file, .*, --privsep_context, os_brick.privileged.default, --privsep_sock_path, /tmp/.*
            mount: CommandFilter, mount, root
            umount: CommandFilter, umount, root
            chown: CommandFilter, chown, root
            """.write(toFile: rootwrap + "/filters/glance.filters", atomically: true, encoding: .utf8)
        conf = h.dir + "/glance-api.conf"
        try h.config(extra: "rootwrap_config = \(rootwrap)/rootwrap.conf\ncinder_mount_point_base = \(h.dir)/mnt")
            .write(toFile: conf, atomically: true, encoding: .utf8)
    }

    func glance(_ project: String, _ args: [String]) throws -> [String: Any] {
        let quoted = ([GlanceInteropTests.tool, conf] + args).map { "'\($0)'" }.joined(separator: " ")
        let script = "mount --bind '\(h.cinder.dir)/bin/mount.nfs' /usr/sbin/mount.nfs && mount --bind '\(h.dir)/etc-ceph' /etc/ceph"
            + " && STOREFS_GLANCE_PROJECT=\(project) exec /usr/bin/python3 \(quoted)"
        let out = try output("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/sh", "-c", script])
        let line = out.split(separator: "\n").last.map(String.init) ?? ""
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "glance_store printed: \(out)")
    }

    @Test(arguments: ["rbd", "nfs"])
    static func glanceReadsWhatWeWrite(_ backend: String) async throws {
        let t = try CinderGlanceInteropTests(backend: backend)
        let store = try t.h.store(try String(contentsOfFile: t.conf, encoding: .utf8))
        setenv("CEPH_CONF", t.h.cinder.ceph.conf, 1)
        let project = try await store.api.session.token().projectID
        let id = UUID().uuidString.lowercased()
        let bytes = pattern(5_000_000, seed: 71) + [UInt8](repeating: 0, count: 1 << 20) + pattern(777, seed: 72)
        let ours = try await writeImage(store, id, bytes, piece: 123_457)
        let theirs = try t.glance(project, ["get", "vols", ours.location])
        #expect(theirs["size"] as? Int == bytes.count)
        #expect(theirs["read"] as? Int == bytes.count)
        #expect(theirs["md5"] as? String == md5Hex(bytes))
        #expect(theirs["sha512"] as? String == sha512Hex(bytes))
        if backend == "rbd" {
            _ = try t.glance(project, ["delete", "vols", ours.location])
            await #expect(throws: StoreError.notFound(image: id)) { try await store.stat(id) }
        }
        #expect(try t.h.volumes().allSatisfy { $0.attachments == 0 })
    }

    @Test static func weReadWhatGlanceWrites() async throws {
        let t = try CinderGlanceInteropTests(backend: "rbd")
        let store = try t.h.store(try String(contentsOfFile: t.conf, encoding: .utf8))
        setenv("CEPH_CONF", t.h.cinder.ceph.conf, 1)
        let project = try await store.api.session.token().projectID
        let id = UUID().uuidString.lowercased()
        let bytes = pattern(4_321_000, seed: 73)
        let source = t.h.dir + "/source.bin"
        #expect(FileManager.default.createFile(atPath: source, contents: Data(bytes)))
        let theirs = try t.glance(project, ["add", "vols", id, source])
        #expect(try await store.stat(id).size == UInt64(bytes.count))
        #expect(try await readAll(store, id, piece: 1 << 20) == bytes)
        #expect(store.location(of: id) == theirs["location"] as? String)
        let digests = try await store.computeDigests(of: id)
        #expect(digests.checksum == theirs["checksum"] as? String)
        #expect(digests.multihash == theirs["multihash"] as? String)
        // Glance's volume and ours look alike.
        try await writeImage(store, id + "-ours", bytes)
        let volumes = try t.h.volumes()
        let glances = try #require(volumes.first { $0.name == "image-" + id })
        let mine = try #require(volumes.first { $0.name == "image-" + id + "-ours" })
        #expect(glances.size == mine.size)
        #expect(Set(glances.metadata.keys) == Set(mine.metadata.keys))
        #expect(glances.metadata["image_size"] == mine.metadata["image_size"])
        #expect(glances.metadata["readonly"] == mine.metadata["readonly"])
    }
}
