import Foundation
import Glibc
import Testing
@testable import StoreFS

@Suite struct TreeTests {
    @Test func rootHoldsTheEnabledStoresOnlyInConfigOrder() async throws {
        let f = try CoreFixture()
        let fh = try await f.fs.opendir(InodeTable.root)
        #expect(try f.fs.readdir(fh, offset: 0).map(\.name) == [".", "..", "fast", "cheap"])
        #expect(try f.fs.readdir(fh, offset: 3).map(\.name) == ["cheap"])
        #expect(try f.fs.readdir(fh, offset: 9).isEmpty)
        for reserved in ["os_glance_staging_store", "os_glance_tasks_store", "FAST", "staging"] {
            #expect(await f.errno { try await f.fs.lookup(parent: InodeTable.root, name: reserved) } == ENOENT)
        }
        let entry = try await f.fs.lookup(parent: InodeTable.root, name: "cheap")
        #expect(entry.attributes.isDirectory && entry.attributes.ino == f.cheap)
    }

    @Test func imagesHaveStableInodesThatFollowRenames() async throws {
        let f = try CoreFixture()
        f.seed("fast", "a", [1, 2, 3])
        f.seed("fast", "b", [4])
        let a = try await f.fs.lookup(parent: f.fast, name: "a").attributes
        #expect(a.size == 3 && !a.isDirectory && a.permissions == 0o644)
        #expect(try await f.fs.lookup(parent: f.fast, name: "a").attributes.ino == a.ino)
        let b = try await f.fs.lookup(parent: f.fast, name: "b").attributes.ino
        try await f.fs.rename(parent: f.fast, name: "a", newParent: f.fast, newName: "b", flags: 0)
        #expect(try await f.fs.lookup(parent: f.fast, name: "b").attributes.ino == a.ino)
        #expect(f.invalidated.all == [b])  // the replaced image's cached pages are dropped
        #expect(await f.errno { try await f.fs.getattr(b) } == ENOENT)
        #expect(await f.errno { try await f.fs.lookup(parent: f.fast, name: "a") } == ENOENT)
        // A new image never reuses a number.
        f.seed("fast", "a", [9])
        let again = try await f.fs.lookup(parent: f.fast, name: "a").attributes.ino
        #expect(again != a.ino && again != b)
    }

    @Test func renameRules() async throws {
        let f = try CoreFixture()
        f.seed("fast", "a", [1])
        f.seed("fast", "b", [2])
        #expect(await f.errno { try await f.fs.rename(parent: f.fast, name: "a", newParent: f.cheap, newName: "a", flags: 0) } == EXDEV)
        #expect(await f.errno { try await f.fs.rename(parent: f.fast, name: "a", newParent: f.fast, newName: "b", flags: StoreFilesystem.renameNoReplace) } == EEXIST)
        #expect(await f.errno { try await f.fs.rename(parent: f.fast, name: "a", newParent: f.fast, newName: "b", flags: StoreFilesystem.renameExchange) } == EINVAL)
        #expect(await f.errno { try await f.fs.rename(parent: InodeTable.root, name: "fast", newParent: InodeTable.root, newName: "x", flags: 0) } == EPERM)
        #expect(f.contents("fast", "a") == [1] && f.contents("fast", "b") == [2])
    }

    @Test func xattrsOfStoresAndImages() async throws {
        let f = try CoreFixture()
        f.seed("cheap", "img", [1])
        #expect(try await f.fs.listxattr(f.fast) == ["user.glance.store.type", "user.glance.store.description",
                                                    "user.glance.store.read_only", "user.glance.store.default"])
        #expect(try await f.fs.listxattr(f.cheap) == ["user.glance.store.type", "user.glance.store.read_only", "user.glance.store.default"])
        #expect(try await f.fs.getxattr(f.cheap, name: "user.glance.store.default") == Array("false".utf8))
        let ino = try await f.fs.lookup(parent: f.cheap, name: "img").attributes.ino
        #expect(try await f.fs.getxattr(ino, name: "user.glance.location") == Array("file://\(f.datadir("cheap"))/img".utf8))
        // Namespaces with nothing in them are "not supported" (coreutils then stops asking the device);
        // other names outside ours are simply absent.
        #expect(await f.errno { try await f.fs.getxattr(ino, name: "security.selinux") } == EOPNOTSUPP)
        #expect(await f.errno { try await f.fs.getxattr(ino, name: "system.posix_acl_access") } == EOPNOTSUPP)
        #expect(await f.errno { try await f.fs.getxattr(ino, name: "user.other") } == ENODATA)
        #expect(await f.errno { try f.fs.setxattr(ino) } == ENOTSUP)
    }

    @Test func checksumsNobodyKeptAreComputedWhenAskedFor() async throws {
        let f = try CoreFixture()
        f.seed("cheap", "img", Array("abc".utf8))  // put there by someone else: no hashes kept
        let ino = try await f.fs.lookup(parent: f.cheap, name: "img").attributes.ino
        // Not listed while unknown: getfattr -d, cp -a and rsync -X must not read whole images.
        #expect(try await !f.fs.listxattr(ino).contains("user.glance.checksum"))
        // Eight at once: one answer for all.
        let answers = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<8 { group.addTask { try await f.fs.getxattr(ino, name: "user.glance.checksum") } }
            return try await group.reduce(into: Set<[UInt8]>()) { $0.insert($1) }
        }
        #expect(answers == [Array("900150983cd24fb0d6963f7d28e17f72".utf8)])
        #expect(try await f.fs.getxattr(ino, name: "user.glance.os_hash_value") == Array(("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f").utf8))
        #expect(try await f.fs.getxattr(ino, name: "user.glance.os_hash_algo") == Array("sha512".utf8))
        #expect(try await f.fs.listxattr(ino).contains("user.glance.checksum"))
        // The image changed behind the mount: the old hashes are not shown, new ones computed.
        f.seed("cheap", "img", Array("hello".utf8))
        #expect(try await !f.fs.listxattr(ino).contains("user.glance.checksum"))
        #expect(try await f.fs.getxattr(ino, name: "user.glance.checksum") == Array("5d41402abc4b2a76b9719d911017c592".utf8))
        #expect(await f.errno { try await f.fs.getxattr(ino, name: "user.glance.nothing") } == ENODATA)
    }

    @Test func readOnlyMountRefusesEveryChange() async throws {
        let f = try CoreFixture(readOnly: true)
        f.seed("fast", "img", [1, 2])
        let ino = try await f.fs.lookup(parent: f.fast, name: "img").attributes.ino
        #expect(try await f.fs.getattr(ino).permissions == 0o444)
        #expect(try await f.fs.getattr(f.fast).permissions == 0o555)
        #expect(await f.errno { try await f.fs.create(parent: f.fast, name: "new", flags: O_WRONLY | O_CREAT) } == EROFS)
        #expect(await f.errno { try await f.fs.open(ino, flags: O_WRONLY) } == EROFS)
        #expect(await f.errno { try await f.fs.unlink(parent: f.fast, name: "img") } == EROFS)
        #expect(await f.errno { try await f.fs.rename(parent: f.fast, name: "img", newParent: f.fast, newName: "x", flags: 0) } == EROFS)
        var change = AttributeChange()
        change.ownershipOrMode = true
        #expect(await f.errno { try await f.fs.setattr(ino, change: change) } == EROFS)
        #expect(await f.errno { try f.fs.setxattr(ino) } == EROFS)
        #expect(try await f.fs.getxattr(f.fast, name: "user.glance.store.read_only") == Array("true".utf8))
        #expect(f.fs.refuseDirectoryChange("mkdir", parent: f.fast, name: "d").errno == EROFS)
        #expect(f.contents("fast", "img") == [1, 2])
    }
}
