import Foundation
import Logging
import Testing
import GlanceConfig
@testable import GlanceStore

/// Glance's own file driver (Debian python3-glance-store, run with /usr/bin/python3) reads what we
/// write, and we read what it writes. The suite fails, never skips, when it is not installed.
@Suite struct GlanceInteropTests {
    static let tool = repositoryFile("Tests/Interop/glance_store_tool.py")

    func glanceStore(_ args: [String]) throws -> [String: Any] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [Self.tool] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "glance_store failed (is python3-glance-store installed?): \(errors)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func glanceReadsAndDeletesWhatWeWrite() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition("filesystem_thin_provisioning = true"), logger: Logger(label: "t"))
        let bytes = pattern(3_000_000) + [UInt8](repeating: 0, count: 1 << 20) + pattern(77)
        let ours = try await writeImage(store, "6a0b1e52-3c6d-4f1e-9a2b-7c8d9e0f1a2b", bytes, piece: 123_457)
        let theirs = try glanceStore([h.dir + "/glance-api.conf", "get", "fast", ours.location])
        #expect(theirs["size"] as? Int == bytes.count)
        #expect(theirs["read"] as? Int == bytes.count)
        let digests = try await store.computeDigests(of: "6a0b1e52-3c6d-4f1e-9a2b-7c8d9e0f1a2b")
        #expect(theirs["md5"] as? String == digests.checksum)
        #expect(theirs["sha512"] as? String == digests.multihash)
        _ = try glanceStore([h.dir + "/glance-api.conf", "delete", "fast", ours.location])
        #expect(try await store.list().isEmpty)
    }

    @Test func weReadWhatGlanceWrites() async throws {
        let h = FileHarness()
        let store = try FileStore(definition: h.definition(), logger: Logger(label: "t"))
        let bytes = pattern(2_345_678, seed: 99)
        let source = h.dir + "/source.bin"
        #expect(FileManager.default.createFile(atPath: source, contents: Data(bytes)))
        let theirs = try glanceStore([h.dir + "/glance-api.conf", "add", "fast", "c0ffee00-1111-2222-3333-444455556666", source])
        #expect(try await store.list().map(\.name) == ["c0ffee00-1111-2222-3333-444455556666"])
        #expect(try await readAll(store, "c0ffee00-1111-2222-3333-444455556666") == bytes)
        #expect(store.location(of: "c0ffee00-1111-2222-3333-444455556666") == theirs["location"] as? String)
        #expect(theirs["checksum"] as? String == md5Hex(bytes))
        #expect(theirs["multihash"] as? String == sha512Hex(bytes))
        // And our write of the same bytes computes the same values Glance did.
        let ours = try await writeImage(store, "copy", bytes)
        let digests = try await store.computeDigests(of: "copy")
        #expect(digests.checksum == theirs["checksum"] as? String)
        #expect(digests.multihash == theirs["multihash"] as? String)
        #expect(ours.metadata == theirs["metadata"] as? [String: String])
    }
}
