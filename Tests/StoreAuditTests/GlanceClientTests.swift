import Foundation
import GlanceConfig
import Logging
import Testing
@testable import GlanceStore

/// The catalogue client against the real Glance `scripts/test.sh` started (STOREFS_TEST_GLANCE_DIR).
@Suite struct GlanceClientTests {
    static func settings() throws -> (CatalogueSettings, String) {
        let dir = try #require(ProcessInfo.processInfo.environment["STOREFS_TEST_GLANCE_DIR"].flatMap { $0.isEmpty ? nil : $0 },
                               "STOREFS_TEST_GLANCE_DIR is not set: run scripts/test.sh (it starts Glance)")
        let source = try ConfigLoader.load([.file(dir + "/glance-api.conf")]).get()
        return (try GlanceConfiguration.validate(source).get().catalogue, dir)
    }

    /// Small images uploaded through Glance's API (consistent: no audit finding); the last is hidden.
    static func upload(_ count: Int, into dir: String) throws -> [String] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Interop/glance_plant.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, dir, "--consistent", String(count)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String])
    }

    @Test func everyPageAndTheHiddenImagesAreListed() async throws {
        let (settings, dir) = try Self.settings()
        let ids = try Self.upload(5, into: dir)
        // Two images a page: the listing must follow `next` through at least three pages, then list
        // the hidden images apart (Glance leaves them out otherwise).
        let listed = try await GlanceClient(settings: settings, pageSize: 2).images()
        #expect(Set(ids).isSubset(of: Set(listed.map(\.id))))
        #expect(Set(listed.map(\.id)).count == listed.count, "an image listed twice")
        let hidden = try #require(listed.first { $0.id == ids.last })
        #expect(hidden.hidden)
        #expect(hidden.stores == ["fast"] && hidden.size == 1024 && hidden.checksum != nil)
        #expect(hidden.location(in: "fast")?.hasPrefix("file://") == true)
        // The mount's view: known images, unknown ids.
        // A first lookup waits for the fetch (as long as a loaded machine needs, here).
        let catalogue = ImageCatalogue(client: GlanceClient(settings: settings), logger: Logger(label: "test"), firstWait: .seconds(300))
        #expect(await catalogue.lookup(ids[0]) != .unknown)
        if case .known(let image) = await catalogue.lookup(ids[1]) { #expect(image.name == "consistent-1") } else {
            Issue.record("image \(ids[1]) not known")
        }
        #expect(await catalogue.lookup("00000000-0000-0000-0000-000000000000") == .unknown)
    }

    @Test func aWrongPasswordIsRefusedWithoutShowingIt() async throws {
        var (settings, _) = try Self.settings()
        settings.credentials?.password = "not-the-password-x9"
        await #expect(throws: StoreError.self) { try await GlanceClient(settings: settings).images() }
        do { _ = try await GlanceClient(settings: settings).images() } catch {
            #expect("\(error)".contains("refused"))
            #expect(!"\(error)".contains("not-the-password-x9"))
        }
    }

    @Test func glanceUnreachableAnswersUnavailableAtOnceAndIsNotAskedAtEveryLookup() async throws {
        let settings = CatalogueSettings(glanceURL: "http://127.0.0.1:9")  // discard: nothing listens
        // Fresh for an hour: however slow a loaded machine runs the lookups, no second fetch is due.
        let catalogue = ImageCatalogue(client: GlanceClient(settings: settings), logger: Logger(label: "test"), freshness: .seconds(3600))
        #expect(await catalogue.lookup("a") == .unavailable)
        for _ in 0..<50 { #expect(await catalogue.lookup("a") == .unavailable) }
        // One fetch for all of them (the next after `freshness`), at most the first one waiting.
        #expect(catalogue.counts.fetches == 1)
        #expect(catalogue.counts.waits <= 1)
    }

    @Test func aHungGlanceCostsOneBoundedWaitNotOnePerRequest() async throws {
        // A socket that accepts connections (the kernel's backlog) and never answers.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try #require(withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } } == 0)
        try #require(listen(fd, 16) == 0)
        try #require(withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } } == 0)
        let port = UInt16(bigEndian: address.sin_port)
        let catalogue = ImageCatalogue(client: GlanceClient(settings: CatalogueSettings(glanceURL: "http://127.0.0.1:\(port)")),
                                       logger: Logger(label: "test"), freshness: .seconds(3600),
                                       firstWait: .milliseconds(300))
        #expect(await catalogue.lookup("a") == .unavailable)
        // The fetch still hangs (10 s timeout); later lookups do not wait for it again.
        for _ in 0..<20 { #expect(await catalogue.lookup("a") == .unavailable) }
        #expect(catalogue.counts.fetches == 1)
        #expect(catalogue.counts.waits == 1)
    }
}
