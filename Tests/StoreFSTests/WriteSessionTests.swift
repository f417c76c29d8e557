import Foundation
import Glibc
import Testing
import GlanceStore
@testable import StoreFS

@Suite struct WriteSessionTests {
    @Test func streamWithAHoleAndATruncateIsPublishedOnTheWritersClose() async throws {
        let f = try CoreFixture()
        let (entry, opened) = try await f.fs.create(parent: f.cheap, name: "new", flags: O_WRONLY | O_CREAT | O_TRUNC)
        #expect(entry.entryTimeout == 0 && opened.directIO)
        _ = try await f.fs.write(opened.handle, offset: 0, bytes: [1, 2, 3], owner: 7)
        _ = try await f.fs.write(opened.handle, offset: 10, bytes: [4], owner: 7)  // a seek: zeroes between
        var change = AttributeChange()
        change.size = 16
        #expect(try await f.fs.setattr(entry.attributes.ino, change: change).size == 16)
        #expect(await f.errno { try await f.fs.lookup(parent: f.cheap, name: "new") } == ENOENT)
        try await f.fs.flush(opened.handle, owner: 99)  // a forked child's copy closing
        #expect(f.contents("cheap", "new") == nil)
        try await f.fs.flush(opened.handle, owner: 7)
        #expect(f.contents("cheap", "new") == [1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0])
        await f.fs.release(opened.handle)
        #expect(try await f.fs.lookup(parent: f.cheap, name: "new").attributes.ino == entry.attributes.ino)
    }

    @Test func goingBackInAStreamFailsAndPublishesNothing() async throws {
        let f = try CoreFixture()
        let (_, opened) = try await f.fs.create(parent: f.cheap, name: "new", flags: O_WRONLY | O_CREAT)
        _ = try await f.fs.write(opened.handle, offset: 0, bytes: [1, 2, 3, 4], owner: 1)
        #expect(await f.errno { try await f.fs.write(opened.handle, offset: 1, bytes: [9], owner: 1) } == EIO)
        #expect(await f.errno { try await f.fs.flush(opened.handle, owner: 1) } == EIO)
        await f.fs.release(opened.handle)
        #expect(f.contents("cheap", "new") == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.datadir("cheap")).isEmpty)
    }

    @Test func closeWithoutWritesPublishesAtReleaseAndRenamePublishesFirst() async throws {
        let f = try CoreFixture()
        let (_, a) = try await f.fs.create(parent: f.fast, name: "empty", flags: O_WRONLY | O_CREAT)
        try await f.fs.flush(a.handle, owner: 5)  // dd closing its first descriptor after dup2
        #expect(f.contents("fast", "empty") == nil)
        await f.fs.release(a.handle)
        #expect(f.contents("fast", "empty") == [])
        // rsync's temp file of an empty image, renamed before the kernel released it.
        let (_, b) = try await f.fs.create(parent: f.fast, name: ".img.Ab12Cd", flags: O_WRONLY | O_CREAT | O_EXCL)
        try await f.fs.flush(b.handle, owner: 5)
        try await f.fs.rename(parent: f.fast, name: ".img.Ab12Cd", newParent: f.fast, newName: "img", flags: 0)
        await f.fs.release(b.handle)
        #expect(f.contents("fast", "img") == [])
        #expect(f.contents("fast", ".img.Ab12Cd") == nil)
    }

    @Test func overwriteWithTruncReplacesAtomicallyAndInvalidatesTheCache() async throws {
        let f = try CoreFixture()
        f.seed("fast", "img", [1, 1, 1, 1])
        let ino = try await f.fs.lookup(parent: f.fast, name: "img").attributes.ino
        let opened = try await f.fs.open(ino, flags: O_WRONLY | O_TRUNC)
        _ = try await f.fs.write(opened.handle, offset: 0, bytes: [2, 2], owner: 3)
        #expect(f.contents("fast", "img") == [1, 1, 1, 1])  // the old image until the close
        try await f.fs.flush(opened.handle, owner: 3)
        await f.fs.release(opened.handle)
        #expect(f.contents("fast", "img") == [2, 2])
        #expect(f.invalidated.all.contains(ino))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.datadir("fast")) == ["img"])
    }

    /// Reference model: random writes, truncates, reads and closes on a read-write file match a
    /// byte array, and what is published is exactly the model.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func randomEditsMatchAModel(seed: UInt64) async throws {
        let f = try CoreFixture()
        f.seed("cheap", "img", randomBytes(100_000, seed: seed))
        var model = randomBytes(100_000, seed: seed)
        let ino = try await f.fs.lookup(parent: f.cheap, name: "img").attributes.ino
        let opened = try await f.fs.open(ino, flags: O_RDWR)
        var rng = SystemRandomNumberGenerator()
        for step in 0..<200 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0:
                let size = Int.random(in: 0...150_000, using: &rng)
                var change = AttributeChange()
                change.size = UInt64(size)
                _ = try await f.fs.setattr(ino, change: change)
                model = size <= model.count ? Array(model.prefix(size)) : model + [UInt8](repeating: 0, count: size - model.count)
            case 1:
                let offset = Int.random(in: 0...model.count + 10, using: &rng)
                guard case .bytes(let got) = try await f.fs.read(opened.handle, offset: UInt64(offset), count: 5000) else {
                    Issue.record("a staged read must return bytes"); return
                }
                #expect(got == Array(model.dropFirst(offset).prefix(5000)), "step \(step)")
            case 2:
                try await f.fs.flush(opened.handle, owner: 1)
                #expect(f.contents("cheap", "img") == model, "step \(step)")
            default:
                let offset = Int.random(in: 0...model.count + 5000, using: &rng)
                let bytes = randomBytes(Int.random(in: 1...20_000, using: &rng), seed: UInt64(step) + seed * 1000)
                _ = try await f.fs.write(opened.handle, offset: UInt64(offset), bytes: bytes, owner: 1)
                if model.count < offset + bytes.count { model += [UInt8](repeating: 0, count: offset + bytes.count - model.count) }
                model.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            }
            #expect(try await f.fs.getattr(ino).size == UInt64(model.count))
        }
        try await f.fs.flush(opened.handle, owner: 1)
        await f.fs.release(opened.handle)
        #expect(f.contents("cheap", "img") == model)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir + "/staging/glance-storefs").isEmpty)
    }

    @Test func errnoMappingIsOnePlace() {
        let cases: [(StoreError, Int32)] = [
            (.notFound(image: "x"), ENOENT), (.duplicate(image: "x"), EEXIST), (.storageFull(""), ENOSPC),
            (.storageWriteDenied(""), EACCES), (.inUseByStore(image: "x"), EBUSY), (.storeAddDisabled(store: "s"), EROFS),
            (.operationNotSupported("x"), ENOTSUP), (.timedOut("x"), EIO), (.io(errno: EDQUOT, "x"), EDQUOT),
            (.invalidImageName(String(repeating: "a", count: 300)), ENAMETOOLONG), (.invalidImageName("a/b"), EINVAL),
            (.storageQuotaFull(""), EDQUOT), (.unreachable("x"), EIO),
        ]
        for (error, code) in cases { #expect(FSError(error).errno == code, "\(error)") }
    }
}
