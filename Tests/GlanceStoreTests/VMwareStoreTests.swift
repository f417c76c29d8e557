import Foundation
import Logging
import Testing
import GlanceConfig
import StoreFormats
@testable import GlanceStore

/// govmomi's vCenter simulator, started by `scripts/test-vcsim.sh`: the one `scripts/test.sh` started
/// for the whole run (STOREFS_TEST_VCSIM_DIR), else one of our own, stopped when done. Tests fail,
/// never skip, when it cannot start. Each test keeps its images in an image directory of its own.
final class VCenterSimulator: @unchecked Sendable {
    let port: Int
    private let backend: ScriptedBackend
    var dir: String { backend.dir }
    var caFile: String { dir + "/tls/ca.pem" }
    static let script = repositoryFile("scripts/test-vcsim.sh")
    static let password = "vcsim-secret-Pw4x"

    init() throws {
        backend = try ScriptedBackend(script: Self.script, sharedDir: ProcessInfo.processInfo.environment["STOREFS_TEST_VCSIM_DIR"], name: "vcsim")
        let text = (try? String(contentsOfFile: backend.dir + "/port", encoding: .utf8)) ?? ""
        port = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), "the simulator did not start (see \(backend.dir)/log)")
    }

    /// The directory that holds datastore `LocalDS_<n>`'s files.
    func datastoreRoot(_ n: Int) throws -> String { dir + "/datastores/LocalDS_\(n)" }

    /// The files of `folder` on `LocalDS_<n>`, as the datastore holds them (not through the driver).
    func files(_ folder: String, datastore n: Int = 0) throws -> [String] {
        let path = try datastoreRoot(n) + "/" + folder
        return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// A PUT on the datastore's file API by curl (the backend's own route, as Glance uploads).
    func put(_ path: String, _ bytes: [UInt8], datastore n: Int = 0) throws {
        let file = NSTemporaryDirectory() + "storefs-seed-" + UUID().uuidString
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { unlink(file) }
        let status = try output("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", caFile, "-X", "PUT",
                                                  "--data-binary", "@" + file, "-u", "storefs:\(Self.password)",
                                                  "https://127.0.0.1:\(port)/folder/\(path)?dcPath=DC0&dsName=LocalDS_\(n)"])
        try #require(status == "200" || status == "201", "PUT \(path): HTTP \(status)")
    }
}

/// A vmware store on the simulator, in an image directory of its own.
final class VMwareHarness: StoreHarness, @unchecked Sendable {
    let simulator: VCenterSimulator
    let directory = "t-" + UUID().uuidString.prefix(8).lowercased()
    let dir = NSTemporaryDirectory() + "storefs-vmware-" + UUID().uuidString
    var options: String
    var datastores = "vmware_datastores = DC0:LocalDS_0\nvmware_datastores = DC0:LocalDS_1"

    init(options: String = "") throws {
        simulator = try VCenterSimulator()
        self.options = options
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func definition(host: String? = nil, tls: String? = nil) throws -> StoreDefinition {
        try storeDefinition(dir: dir, id: "vm", type: "vmware", options: """
            vmware_server_host = \(host ?? "127.0.0.1:\(simulator.port)")
            vmware_server_username = storefs
            vmware_server_password = \(VCenterSimulator.password)
            vmware_store_image_dir = /\(directory)
            vmware_task_poll_interval = 1
            \(tls ?? "vmware_ca_file = \(simulator.caFile)")
            \(datastores)
            \(options)
            """)
    }

    func vmwareStore(host: String? = nil, tls: String? = nil) throws -> VMwareStore {
        try VMwareStore(definition: definition(host: host, tls: tls), logger: Logger(label: "test"))
    }

    func makeStore() async throws -> any Store { try vmwareStore() }

    func seed(_ name: String, _ bytes: [UInt8]) async throws {
        try simulator.put(directory + "/" + name, bytes)
    }
}

@Suite struct VMwareStoreTests {
    @Test(arguments: ConformanceCase.allCases)
    func conformance(_ c: ConformanceCase) async throws {
        try await c.run(try VMwareHarness())
    }

    @Test func writesFollowGlancesLayout() async throws {
        let h = try VMwareHarness()
        let store = try h.vmwareStore()
        let bytes = pattern(3_000_000, seed: 21)
        let result = try await writeImage(store, "6e2f0c2a-img", bytes, sizeHint: 3_000_000)
        // [LocalDS_0] <image_dir>/<id>: the first datastore (equal weights, equal free space).
        #expect(try h.simulator.files(h.directory) == ["6e2f0c2a-img"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: h.simulator.datastoreRoot(0) + "/\(h.directory)/6e2f0c2a-img")) == Data(bytes))
        #expect(result.location == "vsphere://127.0.0.1:\(h.simulator.port)/folder/\(h.directory)/6e2f0c2a-img?dsName=LocalDS_0&dcPath=DC0")
        let attributes = try await store.attributes(of: "6e2f0c2a-img")
        #expect(attributes == ["vmware.datacenter": "DC0", "vmware.datastore": "LocalDS_0"])
        // The datastores' space, summed (both live on this machine's file system here).
        let capacity = try await store.capacity()
        #expect(capacity.totalBytes > 0 && capacity.availableBytes > 0 && capacity.availableBytes <= capacity.totalBytes)
    }

    @Test func datastoreIsChosenByWeightThenFreeSpaceAndTheStoreSpansBoth() async throws {
        let h = try VMwareHarness()
        h.datastores = "vmware_datastores = DC0:LocalDS_0:1\nvmware_datastores = DC0:LocalDS_1:5"
        let store = try h.vmwareStore()
        try await writeImage(store, "heavy", [1, 2, 3])
        #expect(try h.simulator.files(h.directory, datastore: 1) == ["heavy"])
        #expect(try h.simulator.files(h.directory, datastore: 0) == [])
        #expect(try await store.attributes(of: "heavy")["vmware.datastore"] == "LocalDS_1")
        // An image on the other datastore (put there by someone else) is part of the store too.
        try h.simulator.put(h.directory + "/light", [4, 5], datastore: 0)
        #expect(try await store.list().map(\.name) == ["heavy", "light"])
        #expect(try await readAll(store, "light") == [4, 5])
        #expect(store.location(of: "light").hasSuffix("/folder/\(h.directory)/light?dsName=LocalDS_0&dcPath=DC0"))
        // No datastore with room for the image: Glance's StorageFull, before any byte is sent.
        await #expect { try await store.beginWrite("huge", sizeHint: 1 << 60) } throws: { error in
            if case StoreError.storageFull = error { return true }
            return false
        }
    }

    @Test func tlsIsVerifiedWithTheCAFileRefusedWithoutAndAcceptedWhenInsecure() async throws {
        let h = try VMwareHarness()
        #expect(try await h.vmwareStore().list().isEmpty)
        // Refused at once: a certificate that does not verify is not tried again (10 tries by default).
        let start = ContinuousClock.now
        await #expect { try await h.vmwareStore(tls: "").list() } throws: { error in
            guard case StoreError.backend(let text) = error else { return false }
            return text.contains("TLS") && text.contains("CERTIFICATE_VERIFY_FAILED")
        }
        #expect(ContinuousClock.now - start < .seconds(15))
        #expect(try await h.vmwareStore(tls: "vmware_insecure = true").list().isEmpty)
    }

    @Test func anExpiredSessionIsReplacedByOneLoginForEveryone() async throws {
        let h = try VMwareHarness()
        let store = try h.vmwareStore()
        try h.simulator.put(h.directory + "/img", [7, 7, 7])
        #expect(try await store.list().map(\.name) == ["img"])
        let before = try #require(store.session.currentCookie)
        #expect(store.session.logins == 1)
        // vCenter forgets the store's session (TerminateSession by another session of the user).
        let admin = try h.vmwareStore().session
        let content = try await admin.content()
        let key = try #require(before.split(separator: "=", maxSplits: 1).last).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        _ = try await admin.call("TerminateSession", on: content.sessionManager, "<sessionId>\(key)</sessionId>").get(or: "TerminateSession")
        // Eight requests at once: all succeed, after one new login.
        try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<8 { group.addTask { try await store.scan().images.keys.sorted() } }
            for try await names in group { #expect(names == ["img"]) }
        }
        let after = try #require(store.session.currentCookie)
        #expect(after != before)
        let sessions = try await admin.properties(of: content.sessionManager, ["sessionList"])["sessionList"]
        let keys = sessions?.all("UserSession").compactMap { $0.value("key") } ?? []
        #expect(!keys.contains(key))
        #expect(keys.contains(after.split(separator: "=", maxSplits: 1).last.map(String.init) ?? ""))
        #expect(store.session.logins == 2)
        #expect(try await readAll(store, "img") == [7, 7, 7])
    }

    @Test func wrongPasswordIsAClearErrorWithoutThePassword() async throws {
        let h = try VMwareHarness()
        h.options = "vmware_server_password = not-the-Pw-9"
        await #expect { try await h.vmwareStore().list() } throws: { error in
            guard case StoreError.forbidden(let text) = error else { return false }
            return text.contains("storefs") && !text.contains("not-the-Pw-9")
        }
    }

    @Test func modificationTimesAreKeptBesideTheImageAndYieldToNewerData() async throws {
        let h = try VMwareHarness()
        let store = try h.vmwareStore()
        try await writeImage(store, "img", [1, 2, 3])
        let time = Timestamp(seconds: 1_577_934_245, nanoseconds: 123_456_789)
        try await store.setModificationTime("img", to: time)
        #expect(try await store.stat("img").modificationTime == time)
        #expect(try h.simulator.files(h.directory) == [".storefs-mtime.1577934245.123456789.img", "img"])
        // Set again: one kept time, the new one.
        let later = Timestamp(seconds: 1_600_000_000, nanoseconds: 0)
        try await store.setModificationTime("img", to: later)
        #expect(try await store.list().map(\.modificationTime) == [later])
        #expect(try h.simulator.files(h.directory) == [".storefs-mtime.1600000000.0.img", "img"])
        // A rename carries it; the image written again by someone else shows its own time.
        try await store.rename("img", to: "img2", replacing: false)
        #expect(try await store.stat("img2").modificationTime == later)
        #expect(try h.simulator.files(h.directory) == [".storefs-mtime.1600000000.0.img2", "img2"])
        try await Task.sleep(for: .milliseconds(1100))
        try h.simulator.put(h.directory + "/img2", [4, 4])
        store.forget()
        #expect(abs(try await store.stat("img2").modificationTime.date.timeIntervalSinceNow) < 60)
        // Deleting the image removes its kept time too.
        try await store.delete("img2")
        #expect(try h.simulator.files(h.directory) == [])
    }

    @Test func renameReplacesAcrossDatastoresWithoutLeavingTwo() async throws {
        let h = try VMwareHarness()
        let store = try h.vmwareStore()
        try h.simulator.put(h.directory + "/target", [1], datastore: 1)
        try await writeImage(store, ".target.aB3dE9", [2, 2])  // LocalDS_0
        try await store.rename(".target.aB3dE9", to: "target", replacing: true)
        #expect(try await store.list().map(\.name) == ["target"])
        #expect(try await readAll(store, "target") == [2, 2])
        #expect(try h.simulator.files(h.directory, datastore: 1) == [])
    }

    @Test func theStoresOwnNamesCannotBeImageNames() async throws {
        let h = try VMwareHarness()
        let store = try h.vmwareStore()
        await #expect(throws: StoreError.invalidImageName(".storefs-mtime.1.2.img")) { try await store.beginWrite(".storefs-mtime.1.2.img", sizeHint: nil) }
        try await writeImage(store, "img", [1])
        await #expect(throws: StoreError.invalidImageName(".storefs-partial.x.img")) { try await store.rename("img", to: ".storefs-partial.x.img", replacing: false) }
    }

    @Test func partialUploadsAreHiddenAndRemovedOnceAnHourOld() async throws {
        let h = try VMwareHarness()
        try h.simulator.put(h.directory + "/.storefs-partial.0a1b2c3d.old", pattern(1000))
        try h.simulator.put(h.directory + "/.storefs-partial.4e5f6a7b.young", pattern(1000))
        try h.simulator.put(h.directory + "/kept", [1])
        let old = try h.simulator.datastoreRoot(0) + "/\(h.directory)/.storefs-partial.0a1b2c3d.old"
        _ = try output("/usr/bin/touch", ["-d", "2 hours ago", old])
        let store = try h.vmwareStore()
        #expect(try await store.list().map(\.name) == ["kept"])
        let gone = try await waitUntil { try h.simulator.files(h.directory) == [".storefs-partial.4e5f6a7b.young", "kept"] }
        #expect(gone, "\((try? h.simulator.files(h.directory)) ?? [])")
    }

    /// Glance's own location code (its driver cannot run on the simulator: Tests/Interop/vmware_location_tool.py).
    @Test func glancesLocationCodeFindsWhatWeWriteAndWeFindWhatItWrites() async throws {
        let h = try VMwareHarness()
        let store = try h.vmwareStore()
        func glance(_ args: [String]) throws -> [String: String] {
            let text = try output("/usr/bin/python3", [repositoryFile("Tests/Interop/vmware_location_tool.py")] + args)
            return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String], "\(text)")
        }
        let host = "127.0.0.1:\(h.simulator.port)"
        // Ours: the location Glance would have recorded, and where Glance reads it is our image.
        let bytes = pattern(2_000_000, seed: 31)
        let result = try await writeImage(store, "5f8a0c1e-ours", bytes)
        #expect(try glance(["build", host, "/" + h.directory, "DC0", "LocalDS_0", "5f8a0c1e-ours"])["location"] == result.location)
        let parsed = try glance(["parse", result.location])
        #expect(parsed["datastore_name"] == "LocalDS_0" && parsed["datacenter_path"] == "DC0")
        let url = try #require(parsed["https_url"])
        let file = NSTemporaryDirectory() + "storefs-glance-get-" + UUID().uuidString
        defer { unlink(file) }
        #expect(try output("/usr/bin/curl", ["-s", "-o", file, "-w", "%{http_code}", "--cacert", h.simulator.caFile, url]) == "200")
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data(bytes))
        // Glance's: its add PUTs the data to its location's https_url; we list and read it there.
        let theirs = try glance(["build", host, "/" + h.directory, "DC0", "LocalDS_1", "7c1d9e2b-glance"])
        let data = pattern(1_500_000, seed: 32)
        try Data(data).write(to: URL(fileURLWithPath: file))
        #expect(try output("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", h.simulator.caFile,
                                             "-X", "PUT", "--data-binary", "@" + file, try #require(theirs["https_url"])]) == "200")
        #expect(try await store.list().map(\.name) == ["5f8a0c1e-ours", "7c1d9e2b-glance"])
        #expect(try await readAll(store, "7c1d9e2b-glance") == data)
        #expect(store.location(of: "7c1d9e2b-glance") == theirs["location"])
    }

    /// What the bound rests on: after its tries the refused vCenter marks the store down, and the next
    /// request fails without trying again. (The seconds are measured by the mount tests and the
    /// reliability cases, in processes of their own: the suite runs hundreds of tests on two cores.)
    @Test func aRefusedVCenterMarksItsStoreDownAfterItsTries() async throws {
        let h = try VMwareHarness(options: "vmware_api_retry_count = 2\nstorefs_timeout = 2")
        let port = try output("/usr/bin/python3", ["-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let store = try h.vmwareStore(host: "127.0.0.1:\(port)")
        await #expect { try await store.list() } throws: { error in
            guard case StoreError.unreachable(let text) = error else { return false }
            return text.contains("Connection refused") || text.contains("is down")
        }
        #expect(store.session.health.isDown)
        await #expect { try await store.stat("img") } throws: { error in
            guard case StoreError.unreachable(let text) = error else { return false }
            return text.contains("is down")
        }
        // Another store of the same mount (the simulator's) is not affected.
        #expect(try await h.vmwareStore().list().isEmpty)
    }
}
