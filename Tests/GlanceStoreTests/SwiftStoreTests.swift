import Foundation
import Logging
import Testing
import GlanceConfig
@testable import GlanceStore

/// A real Swift (Debian's 2.30, tempauth) started by `scripts/test-swift.sh`: the one `scripts/test.sh`
/// started for the whole run (STOREFS_TEST_SWIFT_DIR), else one of our own, stopped when done.
/// Tests fail, never skip, when Swift cannot start. Each test works in containers of its own.
final class SwiftCluster: @unchecked Sendable {
    let port: Int
    /// A proxy whose tokens live 5 seconds.
    let shortTokenPort: Int
    /// The first proxy's twin over https, its certificate signed by `caFile`.
    let tlsPort: Int
    var caFile: String { dir + "/tls/ca.pem" }
    private let backend: ScriptedBackend
    var dir: String { backend.dir }

    static let script = repositoryFile("scripts/test-swift.sh")

    init() throws {
        backend = try ScriptedBackend(script: Self.script, sharedDir: ProcessInfo.processInfo.environment["STOREFS_TEST_SWIFT_DIR"], name: "swift")
        let ports = backend.ports
        try #require(ports.count == 3, "Swift did not start (see \(backend.dir)/log)")
        port = ports[0]
        shortTokenPort = ports[1]
        tlsPort = ports[2]
    }

    var authAddress: String { "http://127.0.0.1:\(port)/auth/v1.0" }
    var storageURL: String { "http://127.0.0.1:\(port)/v1/AUTH_test" }

    func token() throws -> String {
        let headers = try output("/usr/bin/curl", ["-s", "-D", "-", "-o", "/dev/null", "-H", "X-Auth-User: test:tester",
                                                   "-H", "X-Auth-Key: testing", authAddress])
        let line = headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-auth-token:") }
        return try #require(line.map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) })
    }

    /// One request by curl (the backend's own route, not the driver): status, headers and body.
    @discardableResult
    func curl(_ method: String, _ path: String, headers: [String] = [], file: String? = nil) throws -> (status: Int, headers: String, body: String) {
        let token = try token()
        let out = NSTemporaryDirectory() + "storefs-curl-" + UUID().uuidString
        defer { unlink(out); unlink(out + ".h") }
        var args = ["-s", "-X", method, "-H", "X-Auth-Token: \(token)", "-o", out, "-D", out + ".h", "-w", "%{http_code}"]
        for header in headers { args += ["-H", header] }
        if let file { args += ["--data-binary", "@" + file] }
        if method == "HEAD" { args[2] = "HEAD"; args.insert("-I", at: 0) }
        let status = Int(try output("/usr/bin/curl", args + [storageURL + "/" + path])) ?? 0
        return (status, (try? String(contentsOfFile: out + ".h", encoding: .utf8)) ?? "", (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    func put(_ path: String, _ bytes: [UInt8], headers: [String] = []) throws {
        let file = NSTemporaryDirectory() + "storefs-seed-" + UUID().uuidString
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { unlink(file) }
        let status = try curl("PUT", path, headers: headers, file: file).status
        try #require(status == 201, "PUT \(path): HTTP \(status)")
    }

    /// Object names of a container with their sizes.
    func objects(_ container: String) throws -> [String: Int] {
        let reply = try curl("GET", container + "?format=json")
        // No container, or an empty one, is no object; any other answer is a failure, not "empty".
        try #require([200, 204, 404].contains(reply.status), "GET \(container): HTTP \(reply.status)")
        guard reply.status == 200 else { return [:] }
        let entries = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as! [[String: Any]]
        return Dictionary(uniqueKeysWithValues: entries.map { ($0["name"] as! String, $0["bytes"] as! Int) })
    }

    func containers() throws -> [String] {
        let reply = try curl("GET", "?format=json")
        let entries = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as! [[String: Any]]
        return entries.map { $0["name"] as! String }
    }

    func header(_ path: String, _ name: String) throws -> String? {
        let reply = try curl("HEAD", path)
        return reply.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) }
    }

    /// Sets (or, with nil, removes) an account's quota as tempauth's reseller admin; the HTTP status.
    func setQuota(account: String, bytes: Int?) throws -> Int {
        let headers = try output("/usr/bin/curl", ["-s", "-D", "-", "-o", "/dev/null", "-H", "X-Auth-User: reseller:admin",
                                                   "-H", "X-Auth-Key: testing", authAddress])
        let line = headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-auth-token:") }
        let token = try #require(line.map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) })
        let header = bytes.map { "X-Account-Meta-Quota-Bytes: \($0)" } ?? "X-Remove-Account-Meta-Quota-Bytes: x"
        return Int(try output("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "X-Auth-Token: \(token)",
                                                "-H", header, "http://127.0.0.1:\(port)/v1/\(account)"])) ?? 0
    }

    /// Revokes one token: tempauth keeps each in memcached under the md5 of "AUTH_/token/<token>"
    /// (tempauth hands one user's token to every client of that user: revoke only a user of your own).
    func revoke(token: String) throws {
        let port = try String(contentsOfFile: dir + "/memcache.port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let key = try output("/bin/bash", ["-c", "printf '%s' 'AUTH_/token/\(token)' | md5sum | cut -d' ' -f1"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let reply = try output("/bin/bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port); printf 'delete \(key)\\r\\nquit\\r\\n' >&3; cat <&3"])
        try #require(reply.hasPrefix("DELETED"), "memcached: \(reply)")
    }
}

/// A real Keystone (Debian's python3-keystone) and a Swift proxy that trusts it, on the backends of
/// the run's Swift, started by `scripts/test-keystone.sh`: the run's (STOREFS_TEST_KEYSTONE_DIR), else
/// one of our own. User `glance` / `glancepw` in project `images`, domain Default.
final class KeystoneServer: @unchecked Sendable {
    private let backend: ScriptedBackend
    let swift: SwiftCluster
    var dir: String { backend.dir }
    let port: Int

    static let script = repositoryFile("scripts/test-keystone.sh")

    init() throws {
        swift = try SwiftCluster()
        backend = try ScriptedBackend(script: Self.script, sharedDir: ProcessInfo.processInfo.environment["STOREFS_TEST_KEYSTONE_DIR"],
                                      name: "keystone", arguments: [swift.dir])
        let ports = backend.ports
        try #require(ports.count == 2, "Keystone did not start (see \(backend.dir)/log)")
        port = ports[0]
    }

    var authAddress: String { "http://127.0.0.1:\(port)/v3" }

    /// The swift CLI as Glance's user, by Keystone v3.
    func cli(_ args: [String]) throws -> String {
        try output("/usr/bin/swift", ["--auth-version", "3", "--os-auth-url", authAddress, "--os-username", "glance",
                                      "--os-password", "glancepw", "--os-project-name", "images", "--os-user-domain-id", "default",
                                      "--os-project-domain-id", "default"] + args)
    }
}

/// A swift store in a container of its own, with Glance's reference file (auth v1 on tempauth, or
/// v3 on Keystone).
final class SwiftHarness: StoreHarness, @unchecked Sendable {
    let swift: SwiftCluster
    let keystone: KeystoneServer?
    let container = "t-" + UUID().uuidString.prefix(8).lowercased()
    let dir = NSTemporaryDirectory() + "storefs-swift-" + UUID().uuidString
    let options: String
    let port: Int?
    let user: String
    var scheme = "http"

    /// `port`/`user`: another proxy of the cluster and its user (the short-token one).
    init(options: String = "", port: Int? = nil, user: String = "test:tester", keystone: KeystoneServer? = nil) throws {
        swift = try SwiftCluster()
        self.keystone = keystone
        self.options = options
        self.port = port
        self.user = user
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func writeConfig() throws -> String {
        let reference = keystone.map {
            """
            [ref1]
            auth_address = \($0.authAddress)
            user = images:glance
            key = glancepw
            auth_version = 3
            user_domain_id = default
            project_domain_id = default
            """
        } ?? """
            [ref1]
            auth_address = \(scheme)://127.0.0.1:\(port ?? swift.port)/auth/v1.0
            user = \(user)
            key = testing
            auth_version = 1
            """
        try reference.write(toFile: dir + "/glance-swift.conf", atomically: true, encoding: .utf8)
        let conf = dir + "/glance-api.conf"
        try """
            [DEFAULT]
            enabled_backends = sw:swift
            [glance_store]
            default_backend = sw
            [sw]
            swift_store_config_file = \(dir)/glance-swift.conf
            default_swift_reference = ref1
            swift_store_container = \(container)
            swift_store_create_container_on_put = true
            \(options)
            [os_glance_staging_store]
            filesystem_store_datadir = \(dir)/staging
            [os_glance_tasks_store]
            filesystem_store_datadir = \(dir)/tasks
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        return conf
    }

    func swiftStore(pageSize: Int = SwiftStore.defaultPageSize, absentFreshness: Duration = SwiftStore.freshness) throws -> SwiftStore {
        let configuration = try GlanceConfiguration.validate(try ConfigLoader.load([.file(writeConfig())]).get()).get()
        return try SwiftStore(definition: try #require(configuration.store("sw")), logger: Logger(label: "test"), pageSize: pageSize,
                              absentFreshness: absentFreshness)
    }

    func makeStore() async throws -> any Store { try swiftStore() }

    func seed(_ name: String, _ bytes: [UInt8]) async throws {
        if let keystone {
            let file = dir + "/seed-" + UUID().uuidString
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            defer { unlink(file) }
            _ = try keystone.cli(["upload", container, file, "--object-name", name])
            return
        }
        if try swift.curl("HEAD", container).status == 404 { try swift.curl("PUT", container) }
        try swift.put(container + "/" + name, bytes)
    }
}

@Suite struct SwiftStoreTests {
    @Test(arguments: ConformanceCase.allCases)
    func conformance(_ c: ConformanceCase) async throws {
        // One large-object MB: writes above 1,024,000 bytes are DLOs of 1,024,000-byte segments.
        try await c.run(SwiftHarness(options: "swift_store_large_object_size = 1\nswift_store_large_object_chunk_size = 1"))
    }

    @Test func writesFollowGlancesLayout() async throws {
        let h = try SwiftHarness(options: "swift_store_large_object_size = 2\nswift_store_large_object_chunk_size = 1")
        let store = try h.swiftStore()
        let id = "5b1a7c2e-9d3f-4e6a-8b0c-1f2e3d4c5b6a", small = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
        let bytes = pattern(2_500_000, seed: 31)
        let result = try await writeImage(store, id, bytes, piece: 1 << 20)
        try await writeImage(store, small, pattern(2_000_000, seed: 32))  // below 2 MB (2,048,000): one object
        #expect(try h.swift.objects(h.container) == [id: 0, "\(id)-00001": 1_024_000, "\(id)-00002": 1_024_000,
                                                     "\(id)-00003": 452_000, small: 2_000_000])
        #expect(try h.swift.header("\(h.container)/\(id)", "X-Object-Manifest") == "\(h.container)/\(id)-")
        #expect(try h.swift.header("\(h.container)/\(small)", "X-Object-Manifest") == nil)
        #expect(result.location == "swift+config://ref1/\(h.container)/\(id)")
        // Nothing hashed while writing; Glance's hashes computed from what the store holds.
        #expect(result.checksum == nil)
        #expect(try await store.computeDigests(of: id) == ImageDigests(checksum: md5Hex(bytes), multihash: sha512Hex(bytes)))
        let listed = Dictionary(uniqueKeysWithValues: try await store.list().map { ($0.name, $0.size) })
        #expect(listed == [id: 2_500_000, small: 2_000_000])
        let xattrs = try await store.attributes(of: id)
        #expect(xattrs["swift.large_object"] == "dlo" && xattrs["swift.manifest"] == "\(h.container)/\(id)-")
        try await store.delete(id)
        try await store.delete(small)
        #expect(try h.swift.objects(h.container).isEmpty)
    }

    @Test func listingSizesDLOsSLOsAndPlainObjectsWithoutAHeadEach() async throws {
        let h = try SwiftHarness()
        let store = try h.swiftStore()
        try h.swift.curl("PUT", h.container)
        // Glance's DLO layout, by hand: segments, then the manifest.
        try h.swift.put("\(h.container)/dlo-00001", pattern(3000, seed: 1))
        try h.swift.put("\(h.container)/dlo-00002", pattern(1500, seed: 2))
        try h.swift.put("\(h.container)/dlo", [], headers: ["X-Object-Manifest: \(h.container)/dlo-"])
        try h.swift.put("\(h.container)/plain", pattern(777, seed: 3), headers: ["X-Object-Meta-Mtime: 1500000000.25"])
        // An SLO and a DLO as the swift CLI uploads them (segments in <container>_segments).
        let file = h.dir + "/big"
        try Data(pattern(2_200_000, seed: 4)).write(to: URL(fileURLWithPath: file))
        let cli = ["--auth", h.swift.authAddress, "-U", "test:tester", "-K", "testing", "upload", "-S", "1048576", h.container, file]
        _ = try output("/usr/bin/swift", cli + ["--object-name", "slo", "--use-slo"])
        _ = try output("/usr/bin/swift", cli + ["--object-name", "cli-dlo"])
        try h.swift.put("\(h.container)/empty", [])
        let listed = Dictionary(uniqueKeysWithValues: try await store.list().map { ($0.name, $0) })
        #expect(listed.mapValues(\.size) == ["dlo": 4500, "plain": 777, "slo": 2_200_000, "cli-dlo": 2_200_000, "empty": 0])
        #expect(try await readAll(store, "dlo") == pattern(3000, seed: 1) + pattern(1500, seed: 2))
        #expect(try await readAll(store, "slo", piece: 1 << 20) == pattern(2_200_000, seed: 4))
        #expect(try await readAll(store, "cli-dlo", piece: 1 << 20) == pattern(2_200_000, seed: 4))
        // A lookup of a segment finds nothing, as the listing shows nothing.
        await #expect(throws: StoreError.notFound(image: "dlo-00001")) { try await store.stat("dlo-00001") }
        // The swift CLI's X-Object-Meta-Mtime shows once the object was asked about, then in listings too.
        store.forget()
        #expect(try await store.stat("plain").modificationTime == Timestamp(seconds: 1_500_000_000, nanoseconds: 250_000_000))
        #expect(try await store.list().first { $0.name == "plain" }?.modificationTime == Timestamp(seconds: 1_500_000_000, nanoseconds: 250_000_000))
        // Deleting as Glance: the SLO with its segments, the DLOs with theirs.
        for name in ["dlo", "slo", "cli-dlo", "plain", "empty"] { try await store.delete(name) }
        #expect(try h.swift.objects(h.container).isEmpty)
        #expect(try h.swift.objects(h.container + "_segments").isEmpty)  // the SLO's and the CLI DLO's segments went with them
    }

    /// rsync asks three times for each name it creates: a name Swift said was absent is not asked
    /// for again while fresh (as a listing is trusted), unless written through the store.
    @Test func anAbsentNameIsAskedOnceWhileFreshAndAWriteForgetsIt() async throws {
        let h = try SwiftHarness()
        // Notes trusted for a minute: the puts behind the store's back below take their time.
        let store = try h.swiftStore(absentFreshness: .seconds(60))
        try h.swift.curl("PUT", h.container)
        // Put behind the store's back: still absent for it while the note is fresh, then found.
        let brief = try h.swiftStore(absentFreshness: .milliseconds(300))
        for s in [store, brief] { await #expect(throws: StoreError.notFound(image: "later")) { try await s.stat("later") } }
        try h.swift.put("\(h.container)/later", pattern(10, seed: 5))
        await #expect(throws: StoreError.notFound(image: "later")) { try await store.stat("later") }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await brief.stat("later").size == 10)
        // Written through the store: found at once, and other names' notes stay.
        await #expect(throws: StoreError.notFound(image: "mine")) { try await store.stat("mine") }
        await #expect(throws: StoreError.notFound(image: "other")) { try await store.stat("other") }
        try h.swift.put("\(h.container)/other", pattern(20, seed: 6))
        try await writeImage(store, "mine", pattern(3, seed: 7))
        #expect(try await store.stat("mine").size == 3)
        await #expect(throws: StoreError.notFound(image: "other")) { try await store.stat("other") }
        // A rename's target and a delete's name likewise.
        await #expect(throws: StoreError.notFound(image: "moved")) { try await store.stat("moved") }
        try await store.rename("mine", to: "moved", replacing: false)
        #expect(try await store.stat("moved").size == 3)
        await #expect(throws: StoreError.notFound(image: "mine")) { try await store.stat("mine") }
    }

    @Test func segmentsOfAnInterruptedUploadAreHiddenThenRemoved() async throws {
        let h = try SwiftHarness()
        let store = try h.swiftStore()
        try h.swift.curl("PUT", h.container)
        for i in 1...3 { try h.swift.put("\(h.container)/cut-0000\(i)", pattern(100, seed: UInt64(i))) }
        try h.swift.put("\(h.container)/kept", [1])
        #expect(try await store.list().map(\.name) == ["kept"])
        await store.cleanLeftovers(olderThan: 3600)  // recent: perhaps an upload in progress
        #expect(try h.swift.objects(h.container).count == 4)
        await store.cleanLeftovers(olderThan: 0)
        #expect(try h.swift.objects(h.container) == ["kept": 1])
    }

    @Test func listingPagesThroughLargeContainers() async throws {
        let h = try SwiftHarness()
        let store = try h.swiftStore(pageSize: 10)
        try h.swift.curl("PUT", h.container)
        // 25 objects, pages of 10: three requests, each from the last name of the one before.
        for i in 0..<25 { try h.swift.put("\(h.container)/img-\(String(format: "%02d", i))", [UInt8(i)]) }
        let names = try await store.list().map(\.name)
        #expect(names == (0..<25).map { "img-\(String(format: "%02d", $0))" })
        let listing = try await store.listing(h.container)
        #expect(listing.count == 25)
    }

    @Test func modificationTimeIsKeptAndListed() async throws {
        let h = try SwiftHarness(options: "swift_store_large_object_size = 1\nswift_store_large_object_chunk_size = 1")
        let store = try h.swiftStore()
        let bytes = pattern(2_100_000, seed: 5)
        try await writeImage(store, "dlo", bytes)
        try await writeImage(store, "plain", [1, 2, 3])
        let time = Timestamp(seconds: 1_600_000_000, nanoseconds: 123_456_789)
        for name in ["dlo", "plain"] { try await store.setModificationTime(name, to: time) }
        for info in try await store.list() { #expect(info.modificationTime == time, "\(info.name)") }
        store.forget()
        #expect(try await store.stat("dlo").modificationTime == time)
        #expect(try h.swift.header("\(h.container)/plain", "X-Object-Meta-Mtime") == "1600000000.123456789")
        // The POST kept the DLO a DLO.
        #expect(try await store.stat("dlo").size == 2_100_000)
        #expect(try await readAll(store, "dlo", piece: 1 << 20) == bytes)
    }

    @Test func renameCopiesInsideSwiftInGlancesLayout() async throws {
        let h = try SwiftHarness(options: "swift_store_large_object_size = 1\nswift_store_large_object_chunk_size = 1")
        let store = try h.swiftStore()
        let bytes = pattern(2_500_000, seed: 6)
        try await writeImage(store, ".img.Tmp123", bytes)
        let time = Timestamp(seconds: 1_400_000_000, nanoseconds: 7)
        try await store.setModificationTime(".img.Tmp123", to: time)
        try await store.rename(".img.Tmp123", to: "img", replacing: false)
        #expect(try h.swift.objects(h.container) == ["img": 0, "img-00001": 1_024_000, "img-00002": 1_024_000, "img-00003": 452_000])
        #expect(try await readAll(store, "img", piece: 1 << 20) == bytes)
        #expect(try await store.stat("img").modificationTime == time)
    }

    @Test func seedContainersSpreadImages() async throws {
        let h = try SwiftHarness(options: "swift_store_multiple_containers_seed = 2")
        let store = try h.swiftStore()
        let ids = ["ab12cdef-0000-4000-8000-000000000001", "AB34cdef-0000-4000-8000-000000000002", "c-d00000-0000-4000-8000-000000000003"]
        for id in ids { try await writeImage(store, id, pattern(1000, seed: 7)) }
        #expect(Set(try h.swift.containers().filter { $0.hasPrefix(h.container) }) == ["\(h.container)_ab", "\(h.container)_c-d"])
        #expect(Set(try h.swift.objects("\(h.container)_ab").keys) == [ids[0], ids[1]])
        #expect(Set(try await store.list().map(\.name)) == Set(ids))
        #expect(store.location(of: ids[1]) == "swift+config://ref1/\(h.container)_ab/\(ids[1])")
        for id in ids { try await store.delete(id) }
        #expect(try await store.list().isEmpty)
    }

    @Test func expiredTokenIsRenewedMidRead() async throws {
        let swift = try SwiftCluster()
        let h = try SwiftHarness(port: swift.shortTokenPort, user: "short:tester")
        let store = try h.swiftStore()
        let bytes = pattern(60_000_000, seed: 8)
        // Put there with curl, on a token of its own (one PUT: well within the token's life).
        let file = h.dir + "/img"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let auth = try output("/usr/bin/curl", ["-s", "-D", "-", "-o", "/dev/null", "-H", "X-Auth-User: short:tester", "-H", "X-Auth-Key: testing",
                                                "http://127.0.0.1:\(swift.shortTokenPort)/auth/v1.0"])
        func header(_ name: String) -> String? {
            auth.split(separator: "\r\n").first { $0.lowercased().hasPrefix(name + ":") }.map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) }
        }
        let token = try #require(header("x-auth-token")), url = try #require(header("x-storage-url"))
        for (path, data) in [(h.container, [String]()), (h.container + "/img", ["--data-binary", "@" + file])] {
            let status = try output("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H", "X-Auth-Token: \(token)"] + data + [url + "/" + path])
            try #require(status == "201" || status == "202", "PUT \(path): \(status)")
        }
        let reader = try await store.openForReading("img")
        #expect(try await reader.read(at: 0, count: 1 << 20) == Array(bytes[0..<(1 << 20)]))
        let before = try #require(store.account.auth.currentToken)
        try await Task.sleep(for: .seconds(6))  // this proxy's tokens live 5 s
        // Past what was read ahead: new requests, which need a new token.
        for offset in stride(from: 40_000_000, to: bytes.count, by: 1 << 20) {
            let got = try await reader.read(at: UInt64(offset), count: 1 << 20)
            #expect(got == Array(bytes[offset..<min(bytes.count, offset + (1 << 20))]), "offset \(offset)")
        }
        await reader.close()
        #expect(store.account.auth.currentToken != before)
    }

    @Test func revokedTokenIsRenewedOn401() async throws {
        let h = try SwiftHarness(user: "revoke:tester")
        let store = try h.swiftStore()
        _ = try await writeImage(store, "img", pattern(3_000_000, seed: 9))
        let before = try #require(store.account.auth.currentToken)
        try h.swift.revoke(token: before)
        #expect(try await readAll(store, "img", piece: 1 << 20) == pattern(3_000_000, seed: 9))
        #expect(store.account.auth.currentToken != before)
    }

    /// Keystone v3 (a real Keystone): token, catalog, storage URL of the project's account.
    @Test(arguments: ConformanceCase.allCases)
    func conformanceOnKeystoneV3(_ c: ConformanceCase) async throws {
        try await c.run(SwiftHarness(options: "swift_store_large_object_size = 1\nswift_store_large_object_chunk_size = 1",
                                     keystone: KeystoneServer()))
    }

    @Test func keystoneCatalogChoiceAndRefusals() async throws {
        let keystone = try KeystoneServer()
        let h = try SwiftHarness(keystone: keystone)
        let store = try h.swiftStore()
        try await writeImage(store, "img", [1, 2, 3])
        let session = try await store.account.auth.session()
        #expect(session.storageURL.hasPrefix("http://127.0.0.1:") && session.storageURL.contains("/v1/AUTH_"))
        #expect(try keystone.cli(["list", h.container]) == "img\n")
        // swift_store_endpoint_type picks the catalog's interface (this Keystone's internal one says "localhost").
        let inside = try SwiftHarness(options: "swift_store_endpoint_type = internalURL", keystone: keystone).swiftStore()
        #expect(try await inside.list().isEmpty)
        #expect(try await inside.account.auth.session().storageURL.hasPrefix("http://localhost:"))
        // swift_store_endpoint overrides the catalog.
        let fixed = try SwiftHarness(options: "swift_store_endpoint = \(session.storageURL)", keystone: keystone).swiftStore()
        #expect(try await fixed.account.auth.session().storageURL == session.storageURL)
        // No endpoint of that region: said, not guessed.
        let elsewhere = try SwiftHarness(options: "swift_store_region = Elsewhere", keystone: keystone)
        await #expect { try await elsewhere.swiftStore().list() } throws: { error in
            "\(error)".contains("no publicURL endpoint of type object-store in region Elsewhere")
        }
        // A wrong password: Keystone's 401, the user named, the password not.
        try String(contentsOfFile: h.dir + "/glance-swift.conf", encoding: .utf8).replacingOccurrences(of: "key = glancepw", with: "key = nope")
            .write(toFile: h.dir + "/glance-swift.conf", atomically: true, encoding: .utf8)
        let configuration = try GlanceConfiguration.validate(try ConfigLoader.load([.file(h.dir + "/glance-api.conf")]).get()).get()
        let refused = try SwiftStore(definition: try #require(configuration.store("sw")), logger: Logger(label: "test"))
        await #expect { try await refused.list() } throws: { error in
            guard case StoreError.forbidden(let text) = error else { return false }
            return text.contains("images:glance") && !text.contains("nope")
        }
    }

    @Test func tlsIsVerifiedAsGlancesOptionsSay() async throws {
        let swift = try SwiftCluster()
        func store(_ options: String) throws -> SwiftStore {
            let h = try SwiftHarness(options: options, port: swift.tlsPort)
            h.scheme = "https"
            return try h.swiftStore()
        }
        #expect(try await store("swift_store_cacert = \(swift.caFile)").list().isEmpty)
        await #expect { try await store("").list() } throws: { error in
            guard case StoreError.remoteServiceUnavailable(let text) = error else { return false }
            return text.contains("TLS") || text.contains("certificate")
        }
        #expect(try await store("swift_store_auth_insecure = true").list().isEmpty)
    }

    @Test func capacityIsTheAccountsUsageAndQuota() async throws {
        // An account of its own (quota:tester's): account_quotas enforces the quota set here.
        let h = try SwiftHarness(user: "quota:tester")
        let store = try h.swiftStore()
        try await writeImage(store, "img", pattern(10_000))
        let unlimited = try await store.capacity()
        #expect(unlimited.availableBytes == 1 << 50 && unlimited.totalBytes >= 1 << 50)
        // Only a reseller admin sets an account's quota.
        #expect(try h.swift.setQuota(account: "AUTH_quota", bytes: 5_000_000_000) == 204)
        defer { _ = try? h.swift.setQuota(account: "AUTH_quota", bytes: nil) }
        let capacity = try await store.capacity()
        #expect(capacity.totalBytes == 5_000_000_000)
        #expect(capacity.availableBytes <= 5_000_000_000 && capacity.availableBytes > 4_000_000_000)
        try await store.delete("img")
    }

    @Test func wrongKeyIsAClearError() async throws {
        let h = try SwiftHarness()
        let conf = try h.writeConfig()
        try String(contentsOfFile: h.dir + "/glance-swift.conf", encoding: .utf8).replacingOccurrences(of: "key = testing", with: "key = wrong")
            .write(toFile: h.dir + "/glance-swift.conf", atomically: true, encoding: .utf8)
        let configuration = try GlanceConfiguration.validate(try ConfigLoader.load([.file(conf)]).get()).get()
        let store = try SwiftStore(definition: try #require(configuration.store("sw")), logger: Logger(label: "test"))
        await #expect { try await store.list() } throws: { error in
            guard case StoreError.forbidden(let text) = error else { return false }
            return text.contains("test:tester") && !text.contains("wrong")
        }
    }
}

/// Glance's own swift driver (python3-glance-store with swiftclient) reads and deletes what we
/// write, and we read what it writes, small and segmented.
@Suite struct SwiftGlanceInteropTests {
    func glance(_ args: [String]) throws -> [String: Any] {
        let out = try output("/usr/bin/python3", [GlanceInteropTests.tool] + args)
        return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "glance_store printed: \(out)")
    }

    @Test(arguments: [100_000, 2_600_000])
    func weReadWhatGlanceWrites(_ size: Int) async throws {
        let h = try SwiftHarness(options: "swift_store_large_object_size = 1\nswift_store_large_object_chunk_size = 1")
        let conf = try h.writeConfig(), store = try h.swiftStore()
        let id = UUID().uuidString.lowercased()
        let bytes = pattern(size, seed: 51)
        let source = h.dir + "/source.bin"
        #expect(FileManager.default.createFile(atPath: source, contents: Data(bytes)))
        let theirs = try glance([conf, "add", "sw", id, source])
        #expect(theirs["location"] as? String == store.location(of: id))
        #expect(try await store.list().map(\.size) == [UInt64(size)])
        #expect(try await readAll(store, id, piece: 1 << 20) == bytes)
        let copy = UUID().uuidString.lowercased()
        _ = try await writeImage(store, copy, bytes)
        let ours = try await store.computeDigests(of: copy)
        #expect(ours.checksum == theirs["checksum"] as? String)
        #expect(ours.multihash == theirs["multihash"] as? String)
        try await store.delete(id)
        try await store.delete(copy)
        #expect(try h.swift.objects(h.container).isEmpty)
    }

    @Test func glanceOnKeystoneV3ReadsWhatWeWriteAndWeReadWhatItWrites() async throws {
        let h = try SwiftHarness(options: "swift_store_large_object_size = 1\nswift_store_large_object_chunk_size = 1",
                                 keystone: KeystoneServer())
        let conf = try h.writeConfig(), store = try h.swiftStore()
        let bytes = pattern(2_300_000, seed: 53)
        let ours = try await writeImage(store, UUID().uuidString.lowercased(), bytes, piece: 65_536)
        let read = try glance([conf, "get", "sw", ours.location])
        #expect(read["md5"] as? String == md5Hex(bytes) && read["read"] as? Int == bytes.count)
        let id = UUID().uuidString.lowercased(), source = h.dir + "/source.bin"
        #expect(FileManager.default.createFile(atPath: source, contents: Data(bytes)))
        let theirs = try glance([conf, "add", "sw", id, source])
        #expect(theirs["location"] as? String == store.location(of: id))
        #expect(try await readAll(store, id, piece: 1 << 20) == bytes)
        _ = try glance([conf, "delete", "sw", ours.location])
        try await store.delete(id)
        #expect(try await store.list().isEmpty)
    }

    @Test(arguments: [100_000, 2_600_000])
    func glanceReadsAndDeletesWhatWeWrite(_ size: Int) async throws {
        let h = try SwiftHarness(options: "swift_store_large_object_size = 1\nswift_store_large_object_chunk_size = 1")
        let conf = try h.writeConfig(), store = try h.swiftStore()
        let id = UUID().uuidString.lowercased()
        let bytes = pattern(size, seed: 52)
        let ours = try await writeImage(store, id, bytes, piece: 123_457)
        let theirs = try glance([conf, "get", "sw", ours.location])
        #expect(theirs["size"] as? Int == size)
        #expect(theirs["read"] as? Int == size)
        #expect(theirs["md5"] as? String == md5Hex(bytes))
        #expect(theirs["sha512"] as? String == sha512Hex(bytes))
        _ = try glance([conf, "delete", "sw", ours.location])
        #expect(try h.swift.objects(h.container).isEmpty)  // no segment left behind
    }
}
