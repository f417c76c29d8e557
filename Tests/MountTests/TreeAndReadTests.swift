import Foundation
import Testing

/// Through a real FUSE mount: the tree, attributes, reads and xattrs.
extension MountSuite { @Suite struct TreeAndReadTests {
    @Test func rootListsEnabledStoresInConfigOrderAndReservedIdsAreAbsent() throws {
        let demo = Demo(stores: ["zeta", "alpha", "mid"])
        try demo.mount()
        #expect(sh("ls -f \(demo.mountpoint) | grep -v '^\\.'").out == "zeta\nalpha\nmid\n")
        for reserved in ["os_glance_staging_store", "os_glance_tasks_store"] {
            let r = sh("stat \(demo.mountpoint)/\(reserved)")
            #expect(r.status != 0)
            #expect(r.err.contains("No such file or directory"))
        }
        #expect(sh("stat -c '%F %a' \(demo.path("alpha"))").out == "directory 755\n")
    }

    @Test func imagesShowRealSizeAndMtimeAndReadByteExactAtAnyOffset() throws {
        let demo = Demo()
        sh("head -c 7340033 /dev/urandom > \(demo.datadir("fast"))/img-a && touch -d '2024-03-01 12:34:56.123456789' \(demo.datadir("fast"))/img-a")
        sh("mkdir \(demo.datadir("fast"))/not-an-image; ln -s img-a \(demo.datadir("fast"))/link")
        try demo.mount()
        #expect(sh("ls \(demo.path("fast"))").out == "img-a\n")
        let viaMount = sh("stat -c '%s %y %F' \(demo.path("fast", "img-a"))").out
        let direct = sh("stat -c '%s %y %F' \(demo.datadir("fast"))/img-a").out
        #expect(viaMount == direct)
        #expect(sh("cmp \(demo.path("fast", "img-a")) \(demo.datadir("fast"))/img-a").status == 0)
        #expect(sh("cat \(demo.path("fast", "img-a")) | sha256sum").out == sh("sha256sum < \(demo.datadir("fast"))/img-a").out)
        let script = """
            import os, random
            random.seed(7)
            a = os.open(os.sys.argv[1], os.O_RDONLY); b = os.open(os.sys.argv[2], os.O_RDONLY)
            size = os.fstat(b).st_size
            bad = 0
            for _ in range(300):
                off = random.randrange(0, size + 100); n = random.choice([1, 3, 511, 4097, 65537, 1 << 20, 3 << 20])
                if os.pread(a, n, off) != os.pread(b, n, off): bad += 1
            print(bad)
            """
        let r = sh("/usr/bin/python3 -c '\(script)' \(demo.path("fast", "img-a")) \(demo.datadir("fast"))/img-a")
        #expect(r.out == "0\n", "\(r.err)")
    }

    @Test func qemuImgInfoReadsHeaderAndTailThroughTheMount() throws {
        let demo = Demo()
        sh("qemu-img create -q -f qcow2 \(demo.datadir("fast"))/disk 1G && qemu-io -c 'write -P 0x5a 300M 1M' \(demo.datadir("fast"))/disk > /dev/null")
        try demo.mount()
        let info = sh("qemu-img info --output=json \(demo.path("fast", "disk"))")
        #expect(info.status == 0, "\(info.err)")
        #expect(info.out.contains("\"format\": \"qcow2\""))
        #expect(info.out.contains("\"virtual-size\": 1073741824"))
        #expect(sh("qemu-img compare \(demo.path("fast", "disk")) \(demo.datadir("fast"))/disk").status == 0)
    }

    @Test func xattrsDescribeStoresAndImages() throws {
        let demo = Demo()
        try demo.mount()
        sh("head -c 100000 /dev/urandom > \(demo.dir)/src && cp \(demo.dir)/src \(demo.path("cheap", "img-x"))")
        let store = sh("getfattr -d --absolute-names \(demo.path("fast"))").out
        #expect(store.contains("user.glance.store.type=\"file\""))
        #expect(store.contains("user.glance.store.description=\"The fast store\""))
        #expect(store.contains("user.glance.store.read_only=\"false\""))
        #expect(store.contains("user.glance.store.default=\"true\""))
        #expect(sh("getfattr --only-values -n user.glance.store.default \(demo.path("cheap"))").out == "false")
        let image = sh("getfattr -d --absolute-names \(demo.path("cheap", "img-x"))").out
        #expect(image.contains("user.glance.store=\"cheap\""))
        #expect(image.contains("user.glance.location=\"file://\(demo.datadir("cheap"))/img-x\""))
        let md5 = sh("md5sum < \(demo.dir)/src | cut -d' ' -f1").out.trimmingCharacters(in: .whitespacesAndNewlines)
        let sha = sh("sha512sum < \(demo.dir)/src | cut -d' ' -f1").out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(sh("getfattr --only-values -n user.glance.checksum \(demo.path("cheap", "img-x"))").out == md5)
        #expect(sh("getfattr --only-values -n user.glance.os_hash_value \(demo.path("cheap", "img-x"))").out == sha)
        #expect(sh("getfattr --only-values -n user.glance.os_hash_algo \(demo.path("cheap", "img-x"))").out == "sha512")
        #expect(sh("getfattr -n user.glance.nope \(demo.path("cheap", "img-x"))").err.contains("No such attribute"))
    }

    /// `ls -l` asks for security.selinux and system.posix_acl_access; answered "not supported", coreutils
    /// asks once per device, not once per file (two FUSE round trips per file before), while
    /// user.glance.* stay readable and cp -a, rsync -aX, getfattr -d behave.
    @Test func lsAsksTheUnsupportedNamespacesOncePerMountNotPerFile() throws {
        let demo = Demo()
        for i in 0..<300 { FileManager.default.createFile(atPath: "\(demo.datadir("fast"))/img-\(i)", contents: Data([UInt8(i % 256)])) }
        try demo.mount()
        let traced = sh("strace -f -c -e trace=getxattr,lgetxattr ls -l \(demo.path("fast")) 2>&1 >/dev/null | awk '/total/ {print $4}'")
        #expect(Int(traced.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 999 <= 4, "\(traced.out)")
        #expect(sh("getfattr -n security.selinux \(demo.path("fast", "img-1"))").err.contains("Operation not supported"))
        #expect(sh("getfattr --only-values -n user.glance.store \(demo.path("fast", "img-1"))").out == "fast")
        sh("mkdir \(demo.dir)/copies")
        #expect(sh("cp -a \(demo.path("fast", "img-7")) \(demo.dir)/copies/a").status == 0)
        #expect(sh("rsync -aX \(demo.path("fast", "img-7")) \(demo.dir)/copies/r").status == 0)
        #expect(sh("getfattr --only-values -n user.glance.store \(demo.dir)/copies/r").out == "fast")
        #expect(sh("getfattr -d --absolute-names \(demo.path("fast", "img-7"))").out.contains("user.glance.location="))
    }

    @Test func sixteenConcurrentReadersGetTheSameBytes() throws {
        let demo = Demo()
        sh("head -c 67108864 /dev/urandom > \(demo.datadir("fast"))/big")
        try demo.mount()
        let r = sh("""
            for i in $(seq 16); do (dd if=\(demo.path("fast", "big")) bs=$((65536 * i + 4096)) 2>/dev/null | sha256sum > \(demo.dir)/sum.$i) & done; wait
            cat \(demo.dir)/sum.* | sort -u
            """)
        #expect(r.out == sh("sha256sum < \(demo.datadir("fast"))/big").out)
    }

    /// A local image's bytes go from its file to /dev/fuse by splice, never through the daemon's
    /// memory: libfuse splices only a reply a pipe holds whole (with three pages of slack), so every
    /// read request must fit a pipe of the system's `pipe-max-size` (a 1 MiB read never did, and
    /// each was pread into memory and written back: two copies).
    @Test func aLocalImagesReadsAreSplicedNotCopiedThroughTheDaemon() throws {
        let demo = Demo()
        let size = 24 << 20
        sh("head -c \(size) /dev/urandom > \(demo.datadir("fast"))/big")
        try demo.mount(["nopassthrough"])
        let options = sh("findmnt -n -o FS-OPTIONS \(demo.mountpoint)").out
        let maxRead = try #require(options.split(separator: ",").first { $0.hasPrefix("max_read=") }.flatMap { Int($0.dropFirst(9).trimmingCharacters(in: .whitespacesAndNewlines)) }, "\(options)")
        let pipeMax = try #require(Int(sh("cat /proc/sys/fs/pipe-max-size").out.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(maxRead + 3 * 4096 + 16 <= pipeMax)
        #expect(maxRead >= pipeMax / 2, "reads stay large: \(maxRead)")
        let pid = try #require(demo.process).pid
        func bytesRead() -> Int { Int(sh("awk '/^rchar/ {print $2}' /proc/\(pid)/io").out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        let before = bytesRead()
        #expect(sh("cmp \(demo.path("fast", "big")) \(demo.datadir("fast"))/big").status == 0)
        let read = bytesRead() - before
        // What the daemon read itself: the requests' headers from /dev/fuse, not the image.
        #expect(before >= 0 && read < size / 16, "the daemon read \(read) bytes for an image of \(size)")
    }

    /// Where the kernel offers FUSE passthrough (6.9+, this daemon as root), it reads a local image's
    /// file itself: not one read request reaches the daemon. Elsewhere the reads come to the daemon.
    @Test func theKernelReadsALocalImageItselfWhereItOffersPassthrough() throws {
        let demo = Demo()
        let size = 24 << 20
        sh("head -c \(size) /dev/urandom > \(demo.datadir("fast"))/big")
        try demo.mount()
        let release = sh("uname -r").out.split(separator: ".").prefix(2).compactMap { Int($0) }
        let config = sh("zcat /proc/config.gz 2>/dev/null | grep '^CONFIG_FUSE_PASSTHROUGH='").out
        let offered = release.count == 2 && (release[0], release[1]) >= (6, 9) && geteuid() == 0
            && (config.isEmpty || config.contains("=y"))
        #expect(waitUntil(seconds: 5) { demo.log.contains("passthrough=") })
        #expect(demo.log.contains("passthrough=\(offered ? "on" : "off")"), "\(demo.log)")
        let pid = try #require(demo.process).pid
        func readCalls() -> Int { Int(sh("awk '/^syscr/ {print $2}' /proc/\(pid)/io").out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        let before = readCalls()
        #expect(sh("cmp \(demo.path("fast", "big")) \(demo.datadir("fast"))/big").status == 0)
        let requests = readCalls() - before
        // Each request is one read of /dev/fuse: 24 MiB in requests of about 1 MiB is 24 or more.
        if offered {
            #expect(requests < 12, "\(requests) requests reached the daemon")
        } else {
            #expect(requests >= 24, "\(requests) requests reached the daemon")
        }
    }

    /// The kernel takes no other open of a file read by passthrough: writing over an image a reader
    /// holds open fails with ETXTBSY, and works once the reader is gone; a reader that opens while
    /// a replacement is being written is not refused (the kernel would fail a passthrough open then).
    @Test func writingOverAnImageAPassthroughReaderHoldsIsTextFileBusy() throws {
        let demo = Demo()
        sh("head -c 3000000 /dev/urandom > \(demo.datadir("fast"))/img && head -c 2000000 /dev/urandom > \(demo.dir)/new")
        try demo.mount()
        #expect(waitUntil(seconds: 5) { demo.log.contains("passthrough=") })
        let passthrough = demo.log.contains("passthrough=on")
        let held = sh("""
            exec 3< \(demo.path("fast", "img")); head -c 1000 <&3 > /dev/null
            cp \(demo.dir)/new \(demo.path("fast", "img")); echo "cp=$?"; exec 3<&-
            """)
        if passthrough {
            #expect(held.out.contains("cp=1") && held.err.contains("Text file busy"), "\(held)")
            #expect(sh("cmp \(demo.path("fast", "img")) \(demo.datadir("fast"))/img").status == 0)
        } else {
            #expect(held.out.contains("cp=0"), "\(held)")
        }
        #expect(sh("cp \(demo.dir)/new \(demo.path("fast", "img"))").status == 0)
        #expect(sh("cmp \(demo.path("fast", "img")) \(demo.dir)/new").status == 0)
        let during = sh("""
            head -c 500000 /dev/urandom > \(demo.dir)/third
            exec 4> \(demo.path("fast", "img")); cat \(demo.dir)/third >&4
            head -c 100 \(demo.path("fast", "img")) > /dev/null; echo "read=$?"; exec 4>&-
            """)
        #expect(during.out.contains("read=0"), "\(during)")
        #expect(sh("cmp \(demo.path("fast", "img")) \(demo.dir)/third").status == 0)
        // Replaced behind the mount while a passthrough reader holds the old file: a new reader is
        // refused (EBUSY) rather than given the old bytes, and reads the new file once it is gone.
        let replaced = sh("""
            exec 3< \(demo.path("fast", "img")); head -c 1000 <&3 > /dev/null
            cp \(demo.dir)/new \(demo.datadir("fast"))/img.tmp && mv \(demo.datadir("fast"))/img.tmp \(demo.datadir("fast"))/img
            cmp \(demo.path("fast", "img")) \(demo.dir)/new; echo "cmp=$?"; exec 3<&-
            """)
        if passthrough {
            #expect(replaced.out.contains("cmp=2") && replaced.err.contains("Device or resource busy"), "\(replaced)")
        } else {
            #expect(replaced.out.contains("cmp=0"), "\(replaced)")
        }
        #expect(waitUntil(seconds: 5) { sh("cmp \(demo.path("fast", "img")) \(demo.dir)/new").status == 0 })
    }

    @Test func statfsReportsTheDatadirFileSystem() throws {
        let demo = Demo()
        try demo.mount()
        let viaMount = sh("stat -f -c '%b %S' \(demo.path("fast"))").out.split(separator: " ").compactMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let direct = sh("stat -f -c '%b %S' \(demo.datadir("fast"))").out.split(separator: " ").compactMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(viaMount.count == 2 && direct.count == 2)
        #expect(viaMount[0] * viaMount[1] == direct[0] * direct[1])
    }
}
}
