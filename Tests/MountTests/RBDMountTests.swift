import Foundation
import Testing

/// A Ceph cluster for the mount tests: the one `scripts/test.sh` started (STOREFS_TEST_CEPH_CONF),
/// else one started here by `scripts/test-ceph.sh` and stopped when the value goes.
final class TestCeph: @unchecked Sendable {
    let conf: String
    private let ownDirectory: String?

    init() throws {
        if let shared = ProcessInfo.processInfo.environment["STOREFS_TEST_CEPH_CONF"], !shared.isEmpty {
            conf = shared
            ownDirectory = nil
        } else {
            let dir = sh("mktemp -d /var/tmp/storefs-ceph.XXXXXX").out.trimmingCharacters(in: .whitespacesAndNewlines)
            ownDirectory = dir
            conf = sh("bash \(TestCeph.script) start \(dir)").out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try #require(conf.hasSuffix("ceph.conf") && FileManager.default.fileExists(atPath: conf), "Ceph did not start")
    }

    deinit {
        if let ownDirectory { sh("bash \(TestCeph.script) stop \(ownDirectory); rm -rf \(ownDirectory)") }
    }

    static let script = repositoryFile("scripts/test-ceph.sh")

    func rbd(_ args: String) -> (status: Int32, out: String, err: String) { sh("rbd -c \(conf) \(args)") }

    func makePool() -> String {
        let pool = "m-" + UUID().uuidString.prefix(8).lowercased()
        sh("ceph -c \(conf) osd pool create \(pool) 1 1 && rbd -c \(conf) pool init \(pool)")
        return pool
    }

    func removePool(_ pool: String) {
        sh("ceph -c \(conf) osd pool rm \(pool) \(pool) --yes-i-really-really-mean-it")
    }
}

extension MountSuite {
    /// The rbd store through a real mount, over a real Ceph cluster.
    @Suite struct RBDMountTests {
        @Test func copyRsyncMoveRemoveAsOperatorsDo() throws {
            let ceph = try TestCeph()
            let pool = ceph.makePool()
            defer { ceph.removePool(pool) }
            let demo = Demo(rbd: "rbd_store_pool = \(pool)\nrbd_store_ceph_conf = \(ceph.conf)\nrbd_store_chunk_size = 1")
            try demo.mount()
            #expect(sh("ls -U \(demo.mountpoint)").out == "fast\ncheap\nceph\n")
            let source = demo.dir + "/source"
            sh("mkdir \(source) && head -c 5000001 /dev/urandom > \(source)/img-a && head -c 3000000 /dev/urandom > \(source)/img-b")

            // cp in: one image in Glance's layout, nothing else in the pool. -p keeps the time: rsync
            // compares whole seconds, and a plain cp's time is a second later whenever the copy
            // crosses one (it did under a loaded test run), so the rsync below would copy img-a again.
            #expect(sh("cp -p \(source)/img-a \(demo.path("ceph"))/").status == 0)
            #expect(sh("cmp \(demo.path("ceph", "img-a")) \(source)/img-a").status == 0)
            #expect(ceph.rbd("ls \(pool)").out == "img-a\n")
            #expect(ceph.rbd("info \(pool)/img-a@snap").out.contains("protected: True"))
            #expect(sh("stat -c %s \(demo.path("ceph", "img-a"))").out == "5000001\n")
            #expect(sh("getfattr --only-values -n user.glance.location \(demo.path("ceph", "img-a"))").out
                .hasSuffix("/\(pool)/img-a/snap"))
            #expect(sh("qemu-img info \(demo.path("ceph", "img-a"))").status == 0)
            // Glance's hashes of what the store holds, computed when asked for (not listed before,
            // so `getfattr -d` or `cp -a` never read a whole image), then kept with the image.
            #expect(!sh("getfattr -d \(demo.path("ceph", "img-a"))").out.contains("checksum"))
            #expect(sh("getfattr --only-values -n user.glance.checksum \(demo.path("ceph", "img-a"))").out + "  -\n"
                    == sh("md5sum < \(source)/img-a").out)
            #expect(sh("getfattr --only-values -n user.glance.os_hash_value \(demo.path("ceph", "img-a"))").out + "  -\n"
                    == sh("sha512sum < \(source)/img-a").out)
            #expect(ceph.rbd("image-meta get \(pool)/img-a glance_storefs.checksum").out.dropLast() + "  -\n" == sh("md5sum < \(source)/img-a").out)

            // rsync -a in (its temporary file held until the rename publishes it once) and out, twice each: the
            // second runs copy nothing, since the times stay.
            #expect(rsyncStats("\(source)/", "\(demo.path("ceph"))/") == "Number of regular files transferred: 1\n")
            #expect(rsyncStats("\(source)/", "\(demo.path("ceph"))/") == "Number of regular files transferred: 0\n")
            #expect(ceph.rbd("ls \(pool)").out == "img-a\nimg-b\n")
            // Published once at rsync's rename, in Glance's layout, with rsync's time in its metadata.
            #expect(ceph.rbd("info \(pool)/img-b@snap").out.contains("protected: True"))
            #expect(ceph.rbd("image-meta get \(pool)/img-b glance_storefs.mtime").status == 0)
            #expect(rsyncStats("\(demo.path("ceph"))/", "\(demo.dir)/out/") == "Number of regular files transferred: 2\n")
            #expect(rsyncStats("\(demo.path("ceph"))/", "\(demo.dir)/out/") == "Number of regular files transferred: 0\n")
            #expect(sh("cmp \(demo.dir)/out/img-b \(source)/img-b").status == 0)

            // mv to a file store (across stores: copy, then unlink), rm.
            #expect(sh("mv \(demo.path("ceph", "img-a")) \(demo.path("fast"))/").status == 0)
            #expect(sh("cmp \(demo.datadir("fast"))/img-a \(source)/img-a").status == 0)
            #expect(sh("rm \(demo.path("ceph", "img-b"))").status == 0)
            #expect(ceph.rbd("ls \(pool)").out == "")
            #expect(sh("ls -A \(demo.path("ceph"))").out == "")
        }

        @Test func anImageWithAClonedSnapIsBusy() throws {
            let ceph = try TestCeph()
            let pool = ceph.makePool()
            defer { ceph.removePool(pool) }
            let demo = Demo(rbd: "rbd_store_pool = \(pool)\nrbd_store_ceph_conf = \(ceph.conf)")
            try demo.mount()
            sh("head -c 2000000 /dev/urandom > \(demo.dir)/img && cp \(demo.dir)/img \(demo.path("ceph", "img-c"))")
            #expect(ceph.rbd("clone \(pool)/img-c@snap \(pool)/vm-disk").status == 0)
            let r = sh("rm \(demo.path("ceph", "img-c"))")
            #expect(r.status != 0 && r.err.contains("Device or resource busy"), "\(r.err)")
            #expect(sh("cmp \(demo.path("ceph", "img-c")) \(demo.dir)/img").status == 0)
            #expect(sh("getfattr --only-values -n user.glance.rbd.snap_clones \(demo.path("ceph", "img-c"))").out == "\(pool)/vm-disk")
            sh("rbd -c \(ceph.conf) rm --no-progress \(pool)/vm-disk")
            #expect(sh("rm \(demo.path("ceph", "img-c"))").status == 0)
            #expect(ceph.rbd("ls \(pool)").out == "")
        }

        @Test func anUnreachableClusterFailsItsStoreWithinTheTimeoutAndNothingElse() throws {
            let demo = Demo(rbd: "rbd_store_ceph_conf = /tmp/PLACEHOLDER\nrados_connect_timeout = 2")
            // A cluster whose monitor port nobody listens on.
            let port = sh("/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'").out
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let conf = demo.dir + "/dead-ceph.conf"
            sh("""
                printf '[global]\\nfsid = \(UUID().uuidString.lowercased())\\nmon host = 127.0.0.1:\(port)\\n\
                auth cluster required = none\\nauth service required = none\\nauth client required = none\\n' > \(conf)
                sed -i 's#/tmp/PLACEHOLDER#\(conf)#' \(demo.config)
                """)
            try expectDeadBackendFailsOnlyItsStore(demo, store: "ceph", within: 8)
        }

        @Test func killDuringAWriteLeavesNoImageUnderItsName() throws {
            let ceph = try TestCeph()
            let pool = ceph.makePool()
            defer { ceph.removePool(pool) }
            let demo = Demo(rbd: "rbd_store_pool = \(pool)\nrbd_store_ceph_conf = \(ceph.conf)\nrbd_store_chunk_size = 1")
            try demo.mount()
            #expect(try killDaemon(demo, duringCopyFrom: "/dev/urandom", to: demo.path("ceph", "img-k"), count: 1024, after: 10_000_000) != 0)
            demo.unmount()
            let left = ceph.rbd("ls \(pool)").out
            #expect(!left.split(separator: "\n").contains("img-k"), "\(left)")
            #expect(left.hasPrefix("glance-storefs-partial.img-k."), "the interrupted write keeps its temporary name: \(left)")
            try demo.mount()
            #expect(sh("ls -A \(demo.path("ceph"))").out == "")
        }
    }
}
