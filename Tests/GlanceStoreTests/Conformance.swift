import Foundation
import Testing
import GlanceConfig
@testable import GlanceStore

/// How the conformance suite reaches one backend: a store to test and a way to put an image into the
/// backend by the backend's own route (not through the driver), so reads are checked independently.
protocol StoreHarness: Sendable {
    func makeStore() async throws -> any Store
    func seed(_ name: String, _ bytes: [UInt8]) async throws
}

/// Bytes that differ at every offset, so a read at the wrong place cannot pass.
func pattern(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    // Filled through a raw buffer: tests run unoptimized and share two cores, and a closure per
    // byte of a 32 MiB image starves the other tests' timeouts.
    [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        var state = seed
        guard let base = buffer.baseAddress else { return }
        for i in 0..<count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            (base + i).initialize(to: UInt8(truncatingIfNeeded: state >> 33))
        }
        initialized = count
    }
}

func md5Hex(_ bytes: [UInt8]) -> String { digestHex("md5", bytes) }
func sha512Hex(_ bytes: [UInt8]) -> String { digestHex("sha512", bytes) }

/// Reference digests from coreutils, not from our own code.
private func digestHex(_ tool: String, _ bytes: [UInt8]) -> String {
    let path = NSTemporaryDirectory() + "digest-" + UUID().uuidString
    precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/\(tool)sum")
    p.arguments = [path]
    let pipe = Pipe()
    p.standardOutput = pipe
    try! p.run()
    p.waitUntilExit()
    return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ")[0].description
}

/// The definition of store `id` of `type` with `options`, from a glance-api.conf written in `dir`
/// (reserved stores there too), validated as the mount validates it.
func storeDefinition(dir: String, id: String, type: String, options: String) throws -> StoreDefinition {
    let conf = dir + "/glance-api.conf"
    try """
        [DEFAULT]
        enabled_backends = \(id):\(type)
        [glance_store]
        default_backend = \(id)
        [\(id)]
        \(options)
        [os_glance_staging_store]
        filesystem_store_datadir = \(dir)/staging
        [os_glance_tasks_store]
        filesystem_store_datadir = \(dir)/tasks
        """.write(toFile: conf, atomically: true, encoding: .utf8)
    let configuration = try GlanceConfiguration.validate(try ConfigLoader.load([.file(conf)]).get()).get()
    return try #require(configuration.store(id))
}

/// Writes `bytes` through the driver in pieces of `piece` bytes and publishes.
@discardableResult
func writeImage(_ store: any Store, _ name: String, _ bytes: [UInt8], piece: Int = 100_000, sizeHint: UInt64? = nil) async throws -> ImageAddResult {
    let writer = try await store.beginWrite(name, sizeHint: sizeHint)
    var offset = 0
    while offset < bytes.count {
        let end = min(offset + piece, bytes.count)
        try await writer.write(Array(bytes[offset..<end]))
        offset = end
    }
    return try await writer.publish()
}

func readAll(_ store: any Store, _ name: String, piece: Int = 131_072) async throws -> [UInt8] {
    let reader = try await store.openForReading(name)
    var out: [UInt8] = []
    while true {
        let chunk = try await reader.read(at: UInt64(out.count), count: piece)
        if chunk.isEmpty { break }
        out += chunk
    }
    await reader.close()
    return out
}

/// The behaviour every driver must have. Read-only drivers run the `readOnly` cases.
enum ConformanceCase: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case listAndStat, readsAtOffsets, readsAcrossTheEnd, notFound, concurrentReaders
    case streamedWritePublishes, unpublishedIsInvisible, abortLeavesNothing, duplicateIsRefused
    case deleteRemoves, checksumsMatchGlance, renameWithinStore, emptyImage

    var testDescription: String { rawValue }
    static let readOnly: [ConformanceCase] = [.listAndStat, .readsAtOffsets, .readsAcrossTheEnd, .notFound, .concurrentReaders]

    func run(_ h: any StoreHarness) async throws {
        let store = try await h.makeStore()
        switch self {
        case .listAndStat:
            let a = pattern(1000, seed: 1), b = pattern(3_000_001, seed: 2)
            try await h.seed("img-a", a)
            try await h.seed("img-b", b)
            let listed = try await store.list().sorted { $0.name < $1.name }
            #expect(listed.map(\.name) == ["img-a", "img-b"])
            #expect(listed.map(\.size) == [1000, 3_000_001])
            let info = try await store.stat("img-b")
            #expect(info.size == 3_000_001)
            #expect(abs(info.modificationTime.date.timeIntervalSinceNow) < 600)

        case .readsAtOffsets:
            let bytes = pattern(2_500_000, seed: 3)
            try await h.seed("img", bytes)
            let reader = try await store.openForReading("img")
            #expect(reader.size == 2_500_000)
            for (offset, count) in [(0, 512), (1, 1), (65_535, 70_000), (1_048_576, 1_048_576), (2_499_000, 1000), (777_777, 13)] {
                let got = try await reader.read(at: UInt64(offset), count: count)
                #expect(got == Array(bytes[offset..<(offset + count)]), "offset \(offset) count \(count)")
            }
            await reader.close()

        case .readsAcrossTheEnd:
            let bytes = pattern(10_000, seed: 4)
            try await h.seed("img", bytes)
            let reader = try await store.openForReading("img")
            #expect(try await reader.read(at: 9_990, count: 100) == Array(bytes[9_990...]))
            #expect(try await reader.read(at: 10_000, count: 100) == [])
            #expect(try await reader.read(at: 50_000, count: 100) == [])
            #expect(try await readAll(store, "img") == bytes)

        case .notFound:
            await #expect(throws: StoreError.notFound(image: "missing")) { try await store.stat("missing") }
            await #expect(throws: StoreError.notFound(image: "missing")) { try await store.openForReading("missing") }
            if store.isWritable {
                await #expect(throws: StoreError.notFound(image: "missing")) { try await store.delete("missing") }
            }

        case .concurrentReaders:
            let bytes = pattern(4_000_000, seed: 5)
            try await h.seed("img", bytes)
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<16 {
                    group.addTask { try await readAll(store, "img", piece: 65_536 + i * 4096) == bytes }
                }
                for try await same in group { #expect(same) }
            }

        case .streamedWritePublishes:
            let bytes = pattern(5_000_000, seed: 6)
            let result = try await writeImage(store, "new-image", bytes, piece: 131_072 + 7)
            #expect(result.size == 5_000_000)
            #expect(result.metadata["store"] == store.id)
            #expect(try await readAll(store, "new-image") == bytes)
            #expect(try await store.stat("new-image").size == 5_000_000)
            #expect(try await store.list().map(\.name) == ["new-image"])

        case .unpublishedIsInvisible:
            let writer = try await store.beginWrite("pending", sizeHint: nil)
            try await writer.write(pattern(300_000, seed: 7))
            #expect(try await store.list().isEmpty)
            await #expect(throws: StoreError.notFound(image: "pending")) { try await store.stat("pending") }
            _ = try await writer.publish()
            #expect(try await store.list().map(\.name) == ["pending"])

        case .abortLeavesNothing:
            let writer = try await store.beginWrite("aborted", sizeHint: 1_000_000)
            try await writer.write(pattern(500_000, seed: 8))
            await writer.abort()
            #expect(try await store.list().isEmpty)
            await #expect(throws: StoreError.notFound(image: "aborted")) { try await store.stat("aborted") }
            // The name is free again.
            try await writeImage(store, "aborted", [1, 2, 3])
            #expect(try await readAll(store, "aborted") == [1, 2, 3])

        case .duplicateIsRefused:
            try await writeImage(store, "dup", [1])
            await #expect(throws: StoreError.duplicate(image: "dup")) { try await store.beginWrite("dup", sizeHint: nil) }
            // Two writers racing for one name: the second publish loses and leaves nothing.
            let first = try await store.beginWrite("race", sizeHint: nil)
            let second = try await store.beginWrite("race", sizeHint: nil)
            try await first.write([1, 1])
            try await second.write([2, 2, 2])
            _ = try await first.publish()
            await #expect(throws: StoreError.duplicate(image: "race")) { try await second.publish() }
            #expect(try await readAll(store, "race") == [1, 1])
            #expect(Set(try await store.list().map(\.name)) == ["dup", "race"])

        case .deleteRemoves:
            try await writeImage(store, "victim", pattern(1000, seed: 9))
            try await writeImage(store, "keeper", pattern(1000, seed: 10))
            try await store.delete("victim")
            #expect(try await store.list().map(\.name) == ["keeper"])
            await #expect(throws: StoreError.notFound(image: "victim")) { try await store.delete("victim") }

        case .checksumsMatchGlance:
            let bytes = pattern(1_234_567, seed: 11)
            let result = try await writeImage(store, "summed", bytes, piece: 65_536)
            // Hashed while written, or not at all (then on demand): never a wrong value.
            #expect(result.checksum == nil || result.checksum == md5Hex(bytes))
            #expect(result.multihash == nil || result.multihash == sha512Hex(bytes))
            #expect(result.location == store.location(of: "summed"))
            // On demand, from what the store holds; kept where the store keeps them.
            let digests = try await store.computeDigests(of: "summed")
            #expect(digests == ImageDigests(checksum: md5Hex(bytes), multihash: sha512Hex(bytes)))
            if store.capabilities.contains(.keepDigests) {
                try await store.keepDigests(digests, of: "summed")
                #expect(ImageDigests(attributes: try await store.attributes(of: "summed")) == digests)
            }

        case .renameWithinStore:
            guard store.capabilities.contains(.rename) else { return }
            let bytes = pattern(200_000, seed: 12)
            try await writeImage(store, ".img.XyZ123", bytes)
            try await store.rename(".img.XyZ123", to: "img", replacing: false)
            #expect(try await store.list().map(\.name) == ["img"])
            #expect(try await readAll(store, "img") == bytes)
            try await writeImage(store, "other", [9])
            await #expect(throws: StoreError.duplicate(image: "img")) { try await store.rename("other", to: "img", replacing: false) }
            try await store.rename("other", to: "img", replacing: true)
            #expect(try await readAll(store, "img") == [9])
            #expect(try await store.list().map(\.name) == ["img"])

        case .emptyImage:
            let result = try await writeImage(store, "empty", [])
            #expect(result.size == 0)
            #expect(result.checksum == nil || result.checksum == "d41d8cd98f00b204e9800998ecf8427e")
            #expect(try await store.computeDigests(of: "empty").checksum == "d41d8cd98f00b204e9800998ecf8427e")
            #expect(try await store.stat("empty").size == 0)
            #expect(try await readAll(store, "empty") == [])
        }
    }
}

/// A file of the repository (`scripts/test-swift.sh`...), found from this source file upwards.
func repositoryFile(_ relative: String, from source: String = #filePath) -> String {
    var dir = URL(fileURLWithPath: source).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent(relative).path) { dir.deleteLastPathComponent() }
    return dir.appendingPathComponent(relative).path
}
