import Foundation
import Testing

/// Writing through a real mount: publish on close, rsync, mv, rm, replacement, staging.
extension MountSuite { @Suite struct WriteTests {
    @Test func copiedImageIsInvisibleUntilClosedThenCompleteWithChecksums() throws {
        let demo = Demo()
        try demo.mount()
        let script = """
            import os, subprocess, sys
            path = sys.argv[1]; d = os.path.dirname(path)
            data = os.urandom(6 << 20)
            f = open(path, "wb"); f.write(data[:3 << 20]); f.flush()
            listed = os.path.basename(path) in subprocess.run(["ls", d], capture_output=True, text=True).stdout.split()
            seen = subprocess.run(["stat", path], capture_output=True).returncode == 0
            f.write(data[3 << 20:]); f.close()
            after = subprocess.run(["stat", "-c", "%s", path], capture_output=True, text=True).stdout.strip()
            open(sys.argv[2], "wb").write(data)
            print(listed, seen, after)
            """
        let r = sh("/usr/bin/python3 -c '\(script)' \(demo.path("cheap", "img-new")) \(demo.dir)/src")
        #expect(r.out == "False False \(6 << 20)\n", "\(r.err)")
        #expect(sh("cmp \(demo.dir)/src \(demo.datadir("cheap"))/img-new").status == 0)
        let md5 = sh("md5sum < \(demo.dir)/src | cut -d' ' -f1").out.trimmingCharacters(in: .whitespacesAndNewlines)
        // Not hashed while written (listed only once known, so getfattr -d and cp -a read nothing);
        // asked for, computed from the bytes and then kept on the datadir file.
        #expect(!sh("getfattr -d \(demo.path("cheap", "img-new"))").out.contains("checksum"))
        #expect(sh("getfattr --only-values -n user.glance.checksum \(demo.datadir("cheap"))/img-new").status != 0)
        #expect(sh("getfattr --only-values -n user.glance.checksum \(demo.path("cheap", "img-new"))").out == md5)
        #expect(sh("getfattr --only-values -n user.glance.checksum \(demo.datadir("cheap"))/img-new").out == md5)

        // cp: the same through coreutils, and the data is complete once cp returns.
        sh("head -c 20000000 /dev/urandom > \(demo.dir)/src2")
        #expect(sh("cp \(demo.dir)/src2 \(demo.path("fast", "img-cp"))").status == 0)
        #expect(sh("cmp \(demo.dir)/src2 \(demo.datadir("fast"))/img-cp").status == 0)
    }

    @Test func rsyncBetweenStoresThenASecondRunTransfersNothing() throws {
        let demo = Demo()
        for i in 1...5 { sh("head -c \(i * 300_000 + 7) /dev/urandom > \(demo.datadir("fast"))/img-\(i)") }
        sh("touch -d '2023-05-06 07:08:09' \(demo.datadir("fast"))/img-3")
        try demo.mount()
        let first = sh("rsync -a --stats \(demo.path("fast"))/ \(demo.path("cheap"))/")
        #expect(first.status == 0, "\(first.err)")
        #expect(first.out.contains("Number of regular files transferred: 5"))
        for i in 1...5 { #expect(sh("cmp \(demo.datadir("fast"))/img-\(i) \(demo.datadir("cheap"))/img-\(i)").status == 0) }
        #expect(sh("ls -a \(demo.datadir("cheap")) | grep -c '^\\.img'").out == "0\n")  // no rsync temp left
        let second = sh("rsync -a --stats \(demo.path("fast"))/ \(demo.path("cheap"))/")
        #expect(second.out.contains("Number of regular files transferred: 0"), "\(second.out)")
        #expect(sh("stat -c %Y \(demo.datadir("cheap"))/img-3").out == sh("stat -c %Y \(demo.datadir("fast"))/img-3").out)
        // cp -a keeps the time too, and its chown/chmod/xattr copies do not fail.
        sh("head -c 1000 /dev/urandom > \(demo.dir)/old && touch -d '2021-02-03 04:05:06' \(demo.dir)/old")
        #expect(sh("cp -a \(demo.dir)/old \(demo.path("fast", "img-old"))").status == 0)
        #expect(sh("stat -c %Y \(demo.path("fast", "img-old"))").out == sh("stat -c %Y \(demo.dir)/old").out)
        // And back from the mount to a local directory and in again.
        #expect(sh("rsync -a \(demo.path("cheap"))/ \(demo.dir)/local/ && rsync -a --stats \(demo.dir)/local/ \(demo.path("fast"))/").out
            .contains("Number of regular files transferred: 0"))
        // From a local directory of another time into a store: rsync sets the store's time last, which
        // is ignored rather than failed (it made rsync exit 23 after copying everything).
        sh("mkdir -p \(demo.dir)/backup && head -c 5000 /dev/urandom > \(demo.dir)/backup/img-b && touch -d '2020-01-01' \(demo.dir)/backup")
        let intoStore = sh("rsync -a \(demo.dir)/backup/ \(demo.path("cheap"))/")
        #expect(intoStore.status == 0, "\(intoStore.err)")
        #expect(sh("cmp \(demo.dir)/backup/img-b \(demo.datadir("cheap"))/img-b").status == 0)
        #expect(sh("touch -d '2020-01-01' \(demo.mountpoint)").status != 0)  // the root is not a store
    }

    @Test func mvAcrossStoresCopiesThenUnlinksAndRenameInsideKeepsTheInode() throws {
        let demo = Demo()
        sh("head -c 3000000 /dev/urandom > \(demo.datadir("fast"))/img-m && cp \(demo.datadir("fast"))/img-m \(demo.dir)/orig")
        try demo.mount()
        // rename(2) across stores is EXDEV, which is what makes mv copy.
        let exdev = sh("/usr/bin/python3 -c 'import os,sys; os.rename(sys.argv[1], sys.argv[2])' \(demo.path("fast", "img-m")) \(demo.path("cheap", "img-m"))")
        #expect(exdev.err.contains("Invalid cross-device link"))
        let mtime = sh("stat -c %Y \(demo.path("fast", "img-m"))").out
        #expect(sh("mv \(demo.path("fast", "img-m")) \(demo.path("cheap"))/").status == 0)
        #expect(!FileManager.default.fileExists(atPath: demo.datadir("fast") + "/img-m"))
        #expect(sh("cmp \(demo.dir)/orig \(demo.datadir("cheap"))/img-m").status == 0)
        #expect(sh("stat -c %Y \(demo.path("cheap", "img-m"))").out == mtime)
        let ino = sh("stat -c %i \(demo.path("cheap", "img-m"))").out
        #expect(sh("mv \(demo.path("cheap", "img-m")) \(demo.path("cheap", "img-renamed"))").status == 0)
        #expect(sh("stat -c %i \(demo.path("cheap", "img-renamed"))").out == ino)
        #expect(sh("ls \(demo.datadir("cheap"))").out == "img-renamed\n")
    }

    @Test func rmRemovesAndMkdirIsRefused() throws {
        let demo = Demo()
        sh("echo data > \(demo.datadir("fast"))/img-r")
        try demo.mount()
        #expect(sh("rm \(demo.path("fast", "img-r"))").status == 0)
        #expect(!FileManager.default.fileExists(atPath: demo.datadir("fast") + "/img-r"))
        #expect(sh("rm \(demo.path("fast", "img-r"))").err.contains("No such file"))
        #expect(sh("mkdir \(demo.path("fast", "sub"))").err.contains("Operation not permitted"))
        #expect(sh("mkdir \(demo.mountpoint)/newstore").err.contains("Operation not permitted"))
    }

    @Test func overwritingAnImageReplacesItAtomicallyAndDropsCachedPages() throws {
        let demo = Demo()
        sh("head -c 5000000 /dev/urandom > \(demo.datadir("fast"))/img-o")
        try demo.mount()
        sh("cat \(demo.path("fast", "img-o")) > /dev/null")  // pages cached
        sh("head -c 4000000 /dev/urandom > \(demo.dir)/new")
        #expect(sh("cp \(demo.dir)/new \(demo.path("fast", "img-o"))").status == 0)
        #expect(sh("cmp \(demo.dir)/new \(demo.path("fast", "img-o"))").status == 0)
        #expect(sh("ls -a \(demo.datadir("fast"))").out == ".\n..\nimg-o\n")
    }

    @Test func randomWritesAreStagedAndPublishedWhole() throws {
        let demo = Demo()
        sh("mkdir -p \(demo.stagingDirectory) && echo stale > \(demo.stagingDirectory)/staging-leftover")
        try demo.mount()
        #expect(!FileManager.default.fileExists(atPath: demo.stagingDirectory + "/staging-leftover"))
        #expect(sh("stat -c %a \(demo.stagingDirectory)").out == "700\n")
        #expect(demo.log.contains("removed staging leftovers"))
        // qemu-img convert to qcow2 seeks back to update its tables: staged, then published.
        sh("head -c 8388608 /dev/urandom > \(demo.dir)/raw")
        let convert = sh("qemu-img convert -O qcow2 \(demo.dir)/raw \(demo.path("cheap", "img-q"))")
        #expect(convert.status == 0, "\(convert.err)")
        #expect(sh("qemu-img compare \(demo.dir)/raw \(demo.path("cheap", "img-q"))").status == 0)
        // Editing an existing image in place (dd conv=notrunc) republishes it.
        sh("head -c 1000000 /dev/urandom > \(demo.datadir("fast"))/img-e && cp \(demo.datadir("fast"))/img-e \(demo.dir)/e")
        sh("printf XYZ | dd of=\(demo.path("fast", "img-e")) bs=1 seek=500000 conv=notrunc 2>/dev/null")
        sh("printf XYZ | dd of=\(demo.dir)/e bs=1 seek=500000 conv=notrunc 2>/dev/null")
        #expect(sh("cmp \(demo.dir)/e \(demo.datadir("fast"))/img-e").status == 0)
        #expect(sh("ls -A \(demo.stagingDirectory)").out == "")
    }

    @Test func sparseCopyAndTruncateExtendWithZeroes() throws {
        let demo = Demo()
        try demo.mount()
        sh("truncate -s 10M \(demo.dir)/sparse && printf A | dd of=\(demo.dir)/sparse bs=1 seek=5000000 conv=notrunc 2>/dev/null")
        #expect(sh("cp --sparse=always \(demo.dir)/sparse \(demo.path("fast", "img-s"))").status == 0)
        #expect(sh("cmp \(demo.dir)/sparse \(demo.path("fast", "img-s"))").status == 0)
        #expect(sh("truncate -s 3M \(demo.path("fast", "img-t")) && stat -c %s \(demo.path("fast", "img-t"))").out == "3145728\n")
    }
}
}
