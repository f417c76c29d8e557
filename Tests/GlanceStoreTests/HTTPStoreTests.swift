import Foundation
import Logging
import Testing
import GlanceConfig
@testable import GlanceStore

/// A real nginx on 127.0.0.1, started by the project's script and stopped when released.
final class NginxServer: @unchecked Sendable {
    private let backend: ScriptedBackend
    var dir: String { backend.dir }
    let port: Int
    let tlsPort: Int
    let proxyPort: Int

    static let script = repositoryFile("scripts/test-nginx.sh")

    init() throws {
        backend = try ScriptedBackend(script: Self.script, sharedDir: nil, name: "nginx", under: NSTemporaryDirectory())
        let ports = backend.started.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(ports.count == 3, "nginx did not start: \(backend.started)")
        port = ports[0]
        tlsPort = ports[1]
        proxyPort = ports[2]
    }

    var base: String { "http://127.0.0.1:\(port)" }
    var html: String { dir + "/www/html" }

    /// The requests nginx served: method, URI, status, body bytes sent, Range asked for.
    func requests() -> [(method: String, uri: String, status: Int, bytes: Int, range: String)] {
        let text = (try? String(contentsOfFile: dir + "/access.log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count >= 4, let status = Int(f[2]), let bytes = Int(f[3]) else { return nil }
            return (String(f[0]), String(f[1]), status, bytes, f.count > 4 ? String(f[4]) : "-")
        }
    }

    /// What the proxy (tinyproxy) logged of the requests it was sent.
    var proxyRequests: [String] {
        let text = (try? String(contentsOfFile: dir + "/tmp/proxy.log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.contains("Request (") }.map(String.init)
    }

    func stopProxy() {
        guard let text = try? String(contentsOfFile: dir + "/tinyproxy.pid", encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        kill(pid, SIGTERM)  // it waits for open connections: then it is killed
        for _ in 0..<50 where kill(pid, 0) == 0 { usleep(100_000) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    /// Puts a file where nginx serves it (readable by its worker user).
    func put(_ name: String, _ bytes: [UInt8], in sub: String = "") throws {
        let folder = sub.isEmpty ? html : html + "/" + sub
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        let path = folder + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
    }
}

/// Runs a tool and returns what it printed. posix_spawn and waitpid on its own pid: Foundation's
/// Process can lose the child's exit when several tests spawn at once, and then waits forever.
func output(_ tool: String, _ args: [String]) throws -> String {
    let file = NSTemporaryDirectory() + "storefs-out-" + UUID().uuidString
    defer { unlink(file) }
    let pid = try spawn([tool] + args, stdout: file)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
}

func spawn(_ argv: [String], stdout: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    // A clean signal mask: the spawning thread may block SIGTERM, which the child would inherit.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, &attributes, &cArgs, environ)
    guard rc == 0 else { throw StoreError.io(errno: rc, "spawn \(argv[0])") }
    return pid
}

/// An http store definition from a real config file.
func httpDefinition(_ options: String) throws -> StoreDefinition {
    let dir = NSTemporaryDirectory() + "storefs-httpconf-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let conf = dir + "/glance-api.conf"
    try """
        [DEFAULT]
        enabled_backends = local:file, web:http
        [glance_store]
        default_backend = local
        [local]
        filesystem_store_datadir = \(dir)/local
        [web]
        \(options)
        """.write(toFile: conf, atomically: true, encoding: .utf8)
    let configuration = try GlanceConfiguration.validate(try ConfigLoader.load([.file(conf)]).get()).get()
    return configuration.store("web")!
}

func httpStore(_ options: String) throws -> HTTPStore {
    try HTTPStore(definition: httpDefinition(options), logger: Logger(label: "test"))
}

/// The http store over nginx's HTML autoindex; seeding puts files in the served directory.
final class HTTPHarness: StoreHarness, @unchecked Sendable {
    let server: NginxServer
    let sub = UUID().uuidString
    let location: String
    init(location: String = "html") throws {
        server = try NginxServer()
        self.location = location
        try FileManager.default.createDirectory(atPath: server.html + "/" + sub, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
    }
    func makeStore() async throws -> any Store {
        try httpStore("storefs_index_url = \(server.base)/\(location)/\(sub)/")
    }
    func seed(_ name: String, _ bytes: [UInt8]) async throws { try server.put(name, bytes, in: sub) }
}

@Suite struct HTTPStoreTests {
    @Test(arguments: ConformanceCase.readOnly)
    func conformance(_ c: ConformanceCase) async throws {
        try await c.run(HTTPHarness())
    }

    @Test(arguments: ["json", "norange", "r301", "r302", "r303", "r307", "r308", "rel", "hop2"])
    func listsAndReadsThroughEveryRoute(_ location: String) async throws {
        let h = try HTTPHarness(location: location)
        let bytes = pattern(9_000_001, seed: 11)
        try await h.seed("img-r", bytes)
        try await h.seed("img-s", [1, 2, 3])
        let store = try await h.makeStore()
        #expect(try await store.list().map(\.name).sorted() == ["img-r", "img-s"])
        let reader = try await store.openForReading("img-r")
        #expect(reader.size == 9_000_001)
        for (offset, count) in [(0, 512), (8_999_000, 5000), (4_194_303, 3), (123_457, 1 << 20)] {
            let got = try await reader.read(at: UInt64(offset), count: count)
            #expect(got == Array(bytes[offset..<min(bytes.count, offset + count)]), "\(location) @\(offset)")
        }
        #expect(try await readAll(store, "img-r", piece: 1 << 20) == bytes)
    }

    @Test func tooManyRedirectsIsAnError() async throws {
        let h = try HTTPHarness(location: "hop1")
        try await h.seed("img", [1])
        let store = try await h.makeStore()
        await #expect(throws: StoreError.maxRedirectsExceeded(5)) { try await store.list() }
    }

    @Test func htmlIndexSkipsWhatIsNotAnImage() async throws {
        let h = try HTTPHarness()
        try await h.seed("good", [1])
        try await h.seed("an image.qcow2", [2])
        try h.server.put("x", [0], in: h.sub + "/subdir")
        try await h.seed("index.html", Array("""
            <html><body><a href="../">../</a><a href="?C=N;O=D">Name</a><a href="subdir/">subdir/</a>
            <a href="good">good</a> <A HREF='an%20image.qcow2'>x</A> <a href="a%2Fb">slash</a>
            <a href="http://elsewhere.example/img">other host</a></body></html>
            """.utf8))
        let store = try await h.makeStore()
        #expect(try await store.list().map(\.name) == ["good", "an image.qcow2"])
    }

    @Test func aGoneImageIsNotFound() async throws {
        let h = try HTTPHarness()
        try await h.seed("img", [1, 2])
        let store = try await h.makeStore()
        #expect(try await store.list().count == 1)
        try FileManager.default.removeItem(atPath: h.server.html + "/" + h.sub + "/img")
        try await Task.sleep(for: .seconds(2.1))  // past the HEAD cache
        await #expect(throws: StoreError.notFound(image: "img")) { try await store.stat("img") }
    }

    @Test func tlsIsVerifiedWithTheConfiguredCA() async throws {
        let server = try NginxServer()
        try server.put("img", pattern(5000))
        let url = "https://127.0.0.1:\(server.tlsPort)/html/"
        let verified = try httpStore("storefs_index_url = \(url)\nhttps_insecure = false\nhttps_ca_certificates_file = \(server.dir)/tls/ca.pem")
        #expect(try await verified.list().map(\.name) == ["img"])
        #expect(try await readAll(verified, "img") == pattern(5000))
        let unverifiable = try httpStore("storefs_index_url = \(url)\nhttps_insecure = false\nstorefs_timeout = 2")
        await #expect { try await unverifiable.list() } throws: { error in
            guard case StoreError.remoteServiceUnavailable(let text) = error else { return false }
            return text.contains("TLS") || text.contains("certificate")
        }
        // Glance's default: not verified, so it works (and check warns).
        let insecure = try httpStore("storefs_index_url = \(url)")
        #expect(try await insecure.list().map(\.name) == ["img"])
    }

    @Test func aServerThatNeverAnswersFailsWithinTheTimeout() async throws {
        let listener = try SilentServer()
        let store = try httpStore("storefs_index_url = http://127.0.0.1:\(listener.port)/\nstorefs_timeout = 1")
        let start = ContinuousClock.now
        await #expect { try await store.list() } throws: { error in
            if case StoreError.timedOut = error { return true }
            return false
        }
        // One try (no retry after a timeout), bounded by twice the timeout; here only "not hung": this
        // test starts with the whole suite on two cores, whose backends' start-ups held both of the
        // pool's threads for 33 s once. The tight bound is checked through a mount (MountTests).
        #expect(ContinuousClock.now - start < .seconds(120))
    }

    /// The requests for one image, once nginx has logged at least `atLeast` of them.
    func requests(_ server: NginxServer, for name: String, atLeast: Int = 1) async throws
        -> [(method: String, uri: String, status: Int, bytes: Int, range: String)] {
        for _ in 0..<40 {
            let found = server.requests().filter { $0.uri.hasSuffix("/" + name) && $0.method == "GET" }
            if found.count >= atLeast { return found }
            try await Task.sleep(for: .milliseconds(50))
        }
        return server.requests().filter { $0.uri.hasSuffix("/" + name) && $0.method == "GET" }
    }

    @Test func readAheadFetchesEachChunkOnceWhenRequestsArriveOutOfOrder() async throws {
        let h = try HTTPHarness()
        let size = 24 << 20
        let bytes = pattern(size, seed: 5)
        try await h.seed("img-o", bytes)
        let store = try await h.makeStore()
        let reader = try await store.openForReading("img-o")
        // As the kernel's read-ahead sends them: batches of 1 MiB requests, each batch in reverse.
        var got = [UInt8](repeating: 0, count: size)
        let mib = 1 << 20
        for batch in stride(from: 0, to: size, by: 8 * mib) {
            for offset in stride(from: batch + 7 * mib, through: batch, by: -mib) {
                let piece = try await reader.read(at: UInt64(offset), count: mib)
                got.replaceSubrange(offset..<offset + piece.count, with: piece)
            }
        }
        await reader.close()
        #expect(got == bytes)
        // Each 4 MiB chunk once; before them only the two reads that showed a run begins, exactly.
        let chunks = size / (4 << 20)
        let requests = try await requests(h.server, for: "img-o", atLeast: chunks + 2)
        let whole = requests.filter { $0.bytes == 4 << 20 }
        #expect(Set(whole.map(\.range)).count == chunks && whole.count == chunks, "each 4 MiB chunk once: \(requests.map(\.range))")
        #expect(requests.count == chunks + 2 && requests.filter { $0.bytes == mib }.count == 2, "\(requests.map(\.range))")
        #expect(requests.allSatisfy { $0.status == 206 })
    }

    @Test func aServerIgnoringRangeIsReadFromOneStreamingBody() async throws {
        let h = try HTTPHarness(location: "norange")
        let size = 32 << 20
        let bytes = pattern(size, seed: 6)
        try await h.seed("img-n", bytes)
        let store = try await h.makeStore()
        #expect(try await readAll(store, "img-n", piece: 1 << 20) == bytes)
        // One full body; the first parallel ranged requests are given up as soon as their 200
        // shows the server ignores Range. Fetching each chunk again from 0 would take 15 requests.
        let requests = try await requests(h.server, for: "img-n", atLeast: 2)
        #expect(requests.filter { $0.bytes == size }.count == 1, "\(requests.map(\.bytes))")
        #expect(requests.count <= 8, "\(requests.map(\.bytes))")
        // And reads going backwards still get the right bytes (the stream starts again).
        let reader = try await store.openForReading("img-n")
        for offset in [30 << 20, 9 << 20, 31 << 20 + 5, 123] {
            #expect(try await reader.read(at: UInt64(offset), count: 70_000) == Array(bytes[offset..<offset + 70_000]))
        }
        await reader.close()
    }

    @Test func requestsGoThroughTheConfiguredProxy() async throws {
        let h = try HTTPHarness()
        try await h.seed("img-p", pattern(6_000_000, seed: 7))
        let store = try httpStore("""
            storefs_index_url = \(h.server.base)/html/\(h.sub)/
            http_proxy_information = http:127.0.0.1:\(h.server.proxyPort)
            """)
        #expect(try await store.list().map(\.name) == ["img-p"])
        #expect(try await readAll(store, "img-p", piece: 1 << 20) == pattern(6_000_000, seed: 7))
        // Tunnelled (CONNECT) to the origin, as AsyncHTTPClient does for every proxied request.
        #expect(h.server.proxyRequests.contains { $0.contains("CONNECT 127.0.0.1:\(h.server.port)") }, "\(h.server.proxyRequests)")
        // Without the proxy nothing gets through, though the server itself is up.
        h.server.stopProxy()
        let unproxied = try httpStore("""
            storefs_index_url = \(h.server.base)/html/\(h.sub)/
            http_proxy_information = http:127.0.0.1:\(h.server.proxyPort)
            storefs_timeout = 2
            """)
        await #expect(throws: StoreError.self) { try await unproxied.list() }
    }

    @Test func locationHasNoCredentials() async throws {
        let h = try HTTPHarness()
        try await h.seed("img", [1])
        let store = try httpStore("storefs_index_url = http://user:secret@127.0.0.1:\(h.server.port)/html/\(h.sub)/")
        _ = try await store.list()
        #expect(store.location(of: "img") == "http://127.0.0.1:\(h.server.port)/html/\(h.sub)/img")
        await #expect(throws: StoreError.storeAddDisabled(store: "web")) { try await store.beginWrite("x", sizeHint: nil) }
        await #expect(throws: StoreError.storeDeleteNotSupported(store: "web")) { try await store.delete("img") }
    }
}

/// Accepts connections and never answers (a hung backend).
final class SilentServer: @unchecked Sendable {
    let pid: pid_t
    let port: Int
    init() throws {
        let script = """
            import socket, sys, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
            print(s.getsockname()[1], flush=True)
            held = []
            while True:
                c, _ = s.accept(); held.append(c)
            """
        let file = NSTemporaryDirectory() + "storefs-silent-" + UUID().uuidString
        defer { unlink(file) }
        pid = try spawn(["/usr/bin/python3", "-c", script], stdout: file)
        var found = 0
        for _ in 0..<100 where found == 0 {
            found = Int(((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            if found == 0 { usleep(50_000) }
        }
        port = found
    }
    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
