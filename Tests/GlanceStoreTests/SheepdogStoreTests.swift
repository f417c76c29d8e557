import Foundation
import Logging
import Testing
import GlanceConfig
import StoreFormats
@testable import GlanceStore

/// The sheep daemon's simulator (scripts/test-sheepdog.sh; no registry packages sheepdog): the one
/// `scripts/test.sh` started (STOREFS_TEST_SHEEPDOG_DIR), else one of this test's own. Each harness
/// asks it for a cluster of its own (a sheepdog cluster has no namespaces).
final class SheepSimulator: @unchecked Sendable {
    private let backend: ScriptedBackend
    var dir: String { backend.dir }
    static let script = repositoryFile("scripts/test-sheepdog.sh")
    static let tool = repositoryFile("Tests/Interop/sheep_tool.py")

    init() throws {
        backend = try ScriptedBackend(script: Self.script, sharedDir: ProcessInfo.processInfo.environment["STOREFS_TEST_SHEEPDOG_DIR"], name: "sheep")
    }

    /// A fresh, formatted cluster's port.
    func newCluster() throws -> Int {
        let control = try #require(Int(((try? String(contentsOfFile: dir + "/control.port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)),
                                   "the simulator did not start (see \(dir)/log)")
        let answer = try output("/usr/bin/python3", ["-c", """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", \(control)))
            s.sendall(b"new\\n")
            print(s.makefile().readline().strip())
            """])
        return try #require(Int(answer.trimmingCharacters(in: .whitespacesAndNewlines)), "no cluster: \(answer)")
    }
}

/// What `dog` would see and do on a cluster (Tests/Interop/sheep_tool.py), not through the driver.
struct SheepTool {
    let port: Int

    struct VDI: Decodable {
        let id: UInt32, name: String, tag: String, size: UInt64, snapshot: Bool, snap_id: UInt32, parent: UInt32, allocated: [Int]
    }

    func vdis() throws -> [VDI] {
        try JSONDecoder().decode([VDI].self, from: Data(try output("/usr/bin/python3", [SheepSimulator.tool, "\(port)", "vdis"]).utf8))
    }

    func cat(_ name: String) throws -> [UInt8] {
        let file = NSTemporaryDirectory() + "storefs-sheep-" + UUID().uuidString
        defer { unlink(file) }
        _ = try spawnWait(["/usr/bin/python3", SheepSimulator.tool, "\(port)", "cat", name], stdout: file)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
    }

    func create(_ name: String, _ bytes: [UInt8]) throws {
        let file = NSTemporaryDirectory() + "storefs-sheep-" + UUID().uuidString
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { unlink(file) }
        let out = try output("/usr/bin/python3", [SheepSimulator.tool, "\(port)", "create", name, file])
        try #require(out.contains("\"id\""), "creating \(name): \(out)")
    }

    func run(_ args: String...) throws -> String { try output("/usr/bin/python3", [SheepSimulator.tool, "\(port)"] + args) }
}

private func spawnWait(_ argv: [String], stdout: String) throws -> Int32 {
    let pid = try spawn(argv, stdout: stdout)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return status
}

/// A sheepdog store on a cluster of its own.
final class SheepdogHarness: StoreHarness, @unchecked Sendable {
    let simulator: SheepSimulator
    let port: Int
    let tool: SheepTool
    let dir = NSTemporaryDirectory() + "storefs-sheepdog-" + UUID().uuidString

    init() throws {
        simulator = try SheepSimulator()
        port = try simulator.newCluster()
        tool = SheepTool(port: port)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func definition(port: Int? = nil, options: String = "") throws -> StoreDefinition {
        try storeDefinition(dir: dir, id: "sd", type: "sheepdog", options: """
            sheepdog_store_address = 127.0.0.1
            sheepdog_store_port = \(port ?? self.port)
            \(options)
            """)
    }

    func sheepdogStore(port: Int? = nil, options: String = "", housekeeping: Bool = true) throws -> SheepdogStore {
        var definition = try definition(port: port, options: options)
        definition.housekeeping = housekeeping
        return try SheepdogStore(definition: definition, logger: Logger(label: "test"))
    }

    func makeStore() async throws -> any Store { try sheepdogStore() }

    func seed(_ name: String, _ bytes: [UInt8]) async throws { try tool.create(name, bytes) }
}

@Suite struct SheepdogStoreTests {
    @Test(arguments: ConformanceCase.allCases)
    func conformance(_ c: ConformanceCase) async throws {
        try await c.run(try SheepdogHarness())
    }

    @Test func theSimulatorFollowsTheReference() throws {
        // Its own tests pin the protocol, the hashing, the inode layout, snapshots, clones and
        // deletion to sheepdog's definitions, with raw bytes (scripts/sheepdog/test_sheep_sim.py).
        let out = try output("/bin/bash", ["-c", "cd \(repositoryFile("scripts/sheepdog")) && /usr/bin/python3 -m unittest test_sheep_sim 2>&1; echo status=$?"])
        #expect(out.contains("status=0"), "\(out)")
        #expect(out.contains("OK"))
    }

    @Test func imagesFollowGlancesLayoutAndArePublishedByCloningASnapshot() async throws {
        let h = try SheepdogHarness()
        let store = try h.sheepdogStore()
        let bytes = pattern(9_000_000, seed: 61)
        let writer = try await store.beginWrite("img-1", sizeHint: UInt64(bytes.count))
        try await writer.write(Array(bytes[..<5_000_000]))
        // While it is written: a hidden VDI only, nothing named img-1.
        let during = try h.tool.vdis()
        #expect(!during.contains { $0.name == "img-1" })
        #expect(during.contains { $0.name.hasPrefix(".storefs-partial.") && $0.name.hasSuffix(".img-1") && !$0.snapshot })
        try await writer.write(Array(bytes[5_000_000...]))
        let result = try await writer.publish()
        #expect(result.location == "sheepdog://127.0.0.1:\(h.port):img-1")
        #expect(result.metadata == ["store": "sd"])
        let after = try h.tool.vdis()
        let image = try #require(after.first { $0.name == "img-1" })
        #expect(!image.snapshot && image.size == 9_000_000)
        // Its objects are its base's: a snapshot tagged glance-storefs-base, nothing copied.
        let base = try #require(after.first { $0.id == image.parent })
        #expect(base.snapshot && base.tag == "glance-storefs-base")
        #expect(image.allocated == [0, 1, 2])
        #expect(after.count == 2, "\(after.map(\.name))")
        #expect(try h.tool.cat("img-1") == bytes)
        // Deleting the image releases the base too.
        try await store.delete("img-1")
        #expect(try h.tool.vdis().isEmpty)
    }

    @Test func thinWritesAndAnExactSizeWhenTheSizeIsNotKnown() async throws {
        let h = try SheepdogHarness()
        let store = try h.sheepdogStore()
        // Three objects of data, two of zeros between them, and a short tail.
        var bytes = pattern(4 << 20, seed: 62) + [UInt8](repeating: 0, count: 8 << 20) + pattern(4 << 20, seed: 63)
        bytes += pattern(12_345, seed: 64)
        try await writeImage(store, "thin", bytes, piece: 1 << 20, sizeHint: nil)
        let image = try #require(try h.tool.vdis().first { $0.name == "thin" })
        #expect(image.size == UInt64(bytes.count))
        #expect(image.allocated == [0, 3, 4])
        #expect(try await readAll(store, "thin") == bytes)
        #expect(try h.tool.cat("thin") == bytes)
    }

    @Test func aNameTakenMeanwhileIsADuplicateAndLeavesNothing() async throws {
        let h = try SheepdogHarness()
        let store = try h.sheepdogStore()
        let writer = try await store.beginWrite("raced", sizeHint: nil)
        try await writer.write(pattern(100_000, seed: 65))
        try h.tool.create("raced", pattern(5000, seed: 66))
        await #expect(throws: StoreError.duplicate(image: "raced")) { _ = try await writer.publish() }
        let vdis = try h.tool.vdis()
        #expect(vdis.map(\.name) == ["raced"], "\(vdis.map(\.name))")
        #expect(try h.tool.cat("raced") == pattern(5000, seed: 66))
    }

    @Test func snapshotsAndDeletedVDIsAreNotImages() async throws {
        let h = try SheepdogHarness()
        let store = try h.sheepdogStore()
        try h.tool.create("kept", pattern(6 << 20, seed: 67))
        _ = try h.tool.run("snapshot", "kept", "before-upgrade")
        try h.tool.create("gone", pattern(1000, seed: 68))
        _ = try h.tool.run("delete", "gone")
        let listed = try await store.list()
        #expect(listed.map(\.name) == ["kept"])
        #expect(listed.first?.size == 6 << 20)
        let attributes = try await store.attributes(of: "kept")
        #expect(attributes["sheepdog.snapshots"] == "before-upgrade")
        #expect(attributes["sheepdog.copies"] == "1" && attributes["sheepdog.block_size"] == "4194304")
        #expect(attributes["sheepdog.vid"] != nil)
        await #expect(throws: StoreError.notFound(image: "gone")) { _ = try await store.stat("gone") }
        // The working VDI reads the data the snapshot shares with it.
        #expect(try await readAll(store, "kept") == pattern(6 << 20, seed: 67))
    }

    @Test func modificationTimesAreKeptAsAVDIAttributeOfThatVDIOnly() async throws {
        let h = try SheepdogHarness()
        let store = try h.sheepdogStore()
        try await writeImage(store, "timed", pattern(1000, seed: 69))
        let time = Timestamp(seconds: 1_600_000_000, nanoseconds: 123_456_789)
        try await store.setModificationTime("timed", to: time)
        #expect(try await store.stat("timed").modificationTime == time)
        #expect(try await store.list().first?.modificationTime == time)
        // A later image of the same name does not inherit it.
        try await store.delete("timed")
        try await writeImage(store, "timed", pattern(1000, seed: 70))
        #expect(try await store.stat("timed").modificationTime != time)
    }

    @Test func renameClonesTheBaseAndCarriesTheTime() async throws {
        let h = try SheepdogHarness()
        let store = try h.sheepdogStore()
        // One written by someone else (no base of ours), one of ours.
        try h.tool.create("theirs", pattern(5 << 20, seed: 71))
        try await writeImage(store, ".ours.XyZ123", pattern(3000, seed: 72))
        let time = Timestamp(seconds: 1_500_000_000, nanoseconds: 5)
        try await store.setModificationTime(".ours.XyZ123", to: time)
        try await store.rename(".ours.XyZ123", to: "ours", replacing: false)
        try await store.rename("theirs", to: "moved", replacing: false)
        #expect(try await store.list().map(\.name).sorted() == ["moved", "ours"])
        #expect(try await store.stat("ours").modificationTime == time)
        #expect(try await readAll(store, "moved") == pattern(5 << 20, seed: 71))
        await #expect(throws: StoreError.duplicate(image: "ours")) { try await store.rename("moved", to: "ours", replacing: false) }
        try await store.rename("moved", to: "ours", replacing: true)
        #expect(try await readAll(store, "ours") == pattern(5 << 20, seed: 71))
        try await store.delete("ours")
        #expect(try h.tool.vdis().isEmpty)
    }

    @Test func interruptedWritesAreReportedThenRemoved() async throws {
        let h = try SheepdogHarness()
        let store = try h.sheepdogStore(housekeeping: false)
        let writer = try await store.beginWrite("crashed", sizeHint: nil)
        try await writer.write(pattern(5 << 20, seed: 73))
        // As after a kill: the writer is never published nor aborted.
        let leftovers = try await store.leftovers()
        #expect(leftovers.map(\.image) == ["crashed"])
        #expect(leftovers.first?.kind == "partial write of glance-storefs")
        await store.cleanLeftovers(olderThan: 3600)
        #expect(try await store.leftovers().count == 1)  // young: only reported
        await store.cleanLeftovers(olderThan: 0)
        #expect(try await store.leftovers().isEmpty)
        #expect(try h.tool.vdis().isEmpty)
    }

    @Test func aDeadDaemonFailsTheStoreAtOnceAfterTheFirstFailure() async throws {
        let h = try SheepdogHarness()
        // Nothing listens there.
        let store = try h.sheepdogStore(port: 9, options: "storefs_timeout = 2")
        await #expect(throws: StoreError.self) { _ = try await store.list() }
        #expect(store.cluster.health.isDown)
        do { _ = try await store.stat("x"); Issue.record("no error") } catch {
            #expect(error.meansNoAnswer)
        }
    }

    @Test func capacityComesFromTheNode() async throws {
        let h = try SheepdogHarness()
        let capacity = try await h.sheepdogStore().capacity()
        #expect(capacity.totalBytes == 16 << 30)
        #expect(capacity.availableBytes <= capacity.totalBytes)
    }
}
