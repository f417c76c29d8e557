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

    // MARK: rsync's temporary files where renames are costly (rbd, swift)

    /// rsync's steps for one file: create the temporary name read-write, write, close, set the time
    /// through a path lookup. Returns the temporary file's inode.
    private func rsyncWrites(_ f: CoreFixture, _ temporary: String, _ bytes: [UInt8], time: Timestamp) async throws -> UInt64 {
        let (entry, opened) = try await f.fs.create(parent: f.cheap, name: temporary, flags: O_RDWR | O_CREAT | O_EXCL)
        let half = bytes.count / 2
        _ = try await f.fs.write(opened.handle, offset: 0, bytes: Array(bytes[..<half]), owner: 4)
        _ = try await f.fs.write(opened.handle, offset: UInt64(half), bytes: Array(bytes[half...]), owner: 4)
        try await f.fs.flush(opened.handle, owner: 4)
        await f.fs.release(opened.handle)
        let found = try await f.fs.lookup(parent: f.cheap, name: temporary)
        #expect(found.attributes.ino == entry.attributes.ino && found.attributes.size == UInt64(bytes.count))
        var change = AttributeChange()
        change.modificationTime = time
        change.ownershipOrMode = true
        #expect(try await f.fs.setattr(entry.attributes.ino, change: change).modificationTime == time)
        return entry.attributes.ino
    }

    @Test func rsyncsTemporaryFileIsPublishedOnceUnderItsFinalName() async throws {
        let f = try CoreFixture(remote: true)
        let bytes = randomBytes(300_000)
        let time = Timestamp(seconds: 1_500_000_000, nanoseconds: 5)
        _ = try await rsyncWrites(f, ".img.Ab12Cd", bytes, time: time)
        #expect(f.contents("cheap", ".img.Ab12Cd") == nil)  // closed, and still nothing in the store
        #expect(f.remote!.log.isEmpty)
        try await f.fs.rename(parent: f.cheap, name: ".img.Ab12Cd", newParent: f.cheap, newName: "img", flags: 0)
        #expect(f.contents("cheap", "img") == bytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.datadir("cheap")) == ["img"])
        #expect(try await f.fs.lookup(parent: f.cheap, name: "img").attributes.modificationTime == time)
        #expect(await f.errno { try await f.fs.lookup(parent: f.cheap, name: ".img.Ab12Cd") } == ENOENT)
        // No publish under the temporary name, no rename in the store (the file store's writer
        // takes no time, so it is set after publishing).
        #expect(f.remote!.log == ["begin img", "mtime img"])
    }

    @Test func rsyncsRenameReplacesUnlessTold() async throws {
        let f = try CoreFixture(remote: true)
        f.seed("cheap", "img", [1, 2, 3])
        let ino = try await rsyncWrites(f, ".img.Xy34Zw", [7, 7, 7, 7], time: Timestamp(seconds: 1_600_000_000, nanoseconds: 0))
        let noReplace = StoreFilesystem.renameNoReplace
        #expect(await f.errno { try await f.fs.rename(parent: f.cheap, name: ".img.Xy34Zw", newParent: f.cheap, newName: "img", flags: noReplace) } == EEXIST)
        #expect(f.contents("cheap", "img") == [1, 2, 3])
        #expect(try await f.fs.getattr(ino).size == 4)  // still rsync's, for a second try
        try await f.fs.rename(parent: f.cheap, name: ".img.Xy34Zw", newParent: f.cheap, newName: "img", flags: 0)
        #expect(f.contents("cheap", "img") == [7, 7, 7, 7])
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.datadir("cheap")) == ["img"])
    }

    @Test func aRemovedTemporaryFileNeverReachesTheStore() async throws {
        let f = try CoreFixture(remote: true)
        _ = try await rsyncWrites(f, ".img.Qq11Rr", randomBytes(1000), time: .now)
        try await f.fs.unlink(parent: f.cheap, name: ".img.Qq11Rr")  // rsync failed and cleans up
        #expect(await f.errno { try await f.fs.lookup(parent: f.cheap, name: ".img.Qq11Rr") } == ENOENT)
        #expect(await f.errno { try await f.fs.rename(parent: f.cheap, name: ".img.Qq11Rr", newParent: f.cheap, newName: "img", flags: 0) } == ENOENT)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.datadir("cheap")).isEmpty)
        #expect(!f.remote!.log.contains { $0.hasPrefix("begin") || $0.hasPrefix("delete") })
    }

    @Test func aTemporaryNameNotRenamedInTimeIsPublishedAsClosed() async throws {
        let f = try CoreFixture(remote: true, renameWait: .milliseconds(100))
        let bytes = randomBytes(5000)
        let time = Timestamp(seconds: 1_400_000_000, nanoseconds: 0)
        _ = try await rsyncWrites(f, ".notes.aB12cD", bytes, time: time)
        #expect(f.contents("cheap", ".notes.aB12cD") == nil)
        // Published, then given its time (the file store's writer takes none): wait for both, long
        // enough for a loaded test run.
        func done() async -> Bool {
            guard f.contents("cheap", ".notes.aB12cD") != nil else { return false }
            return (try? await f.fs.lookup(parent: f.cheap, name: ".notes.aB12cD").attributes.modificationTime) == time
        }
        for _ in 0..<600 where await !done() { try await Task.sleep(for: .milliseconds(100)) }
        #expect(f.contents("cheap", ".notes.aB12cD") == bytes)
        #expect(try await f.fs.lookup(parent: f.cheap, name: ".notes.aB12cD").attributes.modificationTime == time)
    }

    @Test func aTemporaryFileBiggerThanWhatIsHeldStreamsUnderItsOwnName() async throws {
        let f = try CoreFixture(remote: true, holdLimit: 1000)
        let bytes = randomBytes(3000)
        let (_, opened) = try await f.fs.create(parent: f.cheap, name: ".big.Zz99Yy", flags: O_RDWR | O_CREAT | O_EXCL)
        _ = try await f.fs.write(opened.handle, offset: 0, bytes: Array(bytes[..<800]), owner: 2)
        #expect(f.remote!.log.isEmpty)
        _ = try await f.fs.write(opened.handle, offset: 800, bytes: Array(bytes[800..<1600]), owner: 2)
        #expect(f.remote!.log == ["begin .big.Zz99Yy"])
        _ = try await f.fs.write(opened.handle, offset: 1600, bytes: Array(bytes[1600...]), owner: 2)
        try await f.fs.flush(opened.handle, owner: 2)  // published at the close, as any stream
        #expect(f.contents("cheap", ".big.Zz99Yy") == bytes)
        await f.fs.release(opened.handle)
        try await f.fs.rename(parent: f.cheap, name: ".big.Zz99Yy", newParent: f.cheap, newName: "big", flags: 0)
        #expect(f.contents("cheap", "big") == bytes)
        #expect(f.remote!.log == ["begin .big.Zz99Yy", "rename .big.Zz99Yy big"])
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
