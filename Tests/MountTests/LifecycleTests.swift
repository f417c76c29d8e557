import Foundation
import Testing

/// Mounting, unmounting, read-only mounts, crashes, and refusing bad input before mounting.
extension MountSuite { @Suite struct LifecycleTests {
    @Test func readOnlyMountRefusesEveryWriteWithEROFS() throws {
        let demo = Demo()
        sh("echo data > \(demo.datadir("fast"))/img-ro")
        try demo.mount(["ro"])
        #expect(sh("stat -c %A \(demo.path("fast", "img-ro"))").out == "-r--r--r--\n")
        #expect(sh("getfattr --only-values -n user.glance.store.read_only \(demo.path("fast"))").out == "true")
        for command in ["cp /etc/hostname \(demo.path("fast", "img-new"))",
                        "rm \(demo.path("fast", "img-ro"))",
                        "touch \(demo.path("fast", "img-ro"))",
                        "mv \(demo.path("fast", "img-ro")) \(demo.path("fast", "img-2"))",
                        "mkdir \(demo.path("fast", "d"))",
                        "sh -c 'echo more >> \(demo.path("fast", "img-ro"))'",
                        "setfattr -n user.x -v 1 \(demo.path("fast", "img-ro"))"] {
            let r = sh(command)
            #expect(r.status != 0 && r.err.contains("Read-only file system"), "\(command): \(r.err)")
        }
        #expect(sh("cat \(demo.path("fast", "img-ro"))").out == "data\n")
    }

    @Test func sigtermUnmountsCleanly() throws {
        let demo = Demo()
        try demo.mount()
        let process = try #require(demo.process)
        kill(process.pid, SIGTERM)
        #expect(waitUntil(seconds: 10) { !process.isRunning })
        #expect(process.wait() == 0)
        #expect(!isMounted(demo.mountpoint))
        #expect(demo.log.contains("unmounted"))
    }

    @Test func killDuringALargeCopyLeavesNoPartialImage() throws {
        let demo = Demo()
        try demo.mount()
        // Killed once a good part of the data went through the daemon.
        #expect(try killDaemon(demo, duringCopyFrom: "/dev/zero", to: demo.path("cheap", "img-big"), count: 4096, after: 100_000_000) != 0)
        demo.unmount()
        #expect(sh("ls -A \(demo.datadir("cheap"))").out == "")
        try demo.mount()
        #expect(sh("ls -A \(demo.path("cheap"))").out == "")
        #expect(sh("ls -A \(demo.stagingDirectory)").out == "")
    }

    @Test func withoutForegroundTheCommandReturnsOnceMounted() throws {
        let demo = Demo()
        sh("echo x > \(demo.datadir("fast"))/img-d")
        let r = sh("\(storefsBinary) mount --config-file \(demo.config) \(demo.mountpoint) && cat \(demo.path("fast", "img-d"))")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "x\n")
        let daemons = sh("pgrep -f -- '\(demo.mountpoint) -f --ready-fd'").out
        #expect(!daemons.isEmpty)
        sh("fusermount3 -u \(demo.mountpoint)")
        #expect(waitUntil(seconds: 10) { sh("pgrep -f -- '\(demo.mountpoint) -f --ready-fd'").out.isEmpty })
    }

    @Test func badInputIsOneLineAndNothingIsMounted() throws {
        let demo = Demo()
        let missing = sh("\(storefsBinary) mount --config-file \(demo.config) \(demo.dir)/nowhere")
        #expect(missing.status == 1)
        #expect(missing.err == "glance-storefs: mount point \(demo.dir)/nowhere: No such file or directory\n")

        try demo.mount()
        let busy = sh("\(storefsBinary) mount --config-file \(demo.config) \(demo.mountpoint)")
        #expect(busy.status == 1)
        #expect(busy.err == "glance-storefs: mount point \(demo.mountpoint) is busy: fuse.glance-storefs is already mounted there\n")
        demo.unmount()

        sh("printf '[DEFAULT]\\nenabled_backends = a:file\\n[glance_store]\\ndefault_backend = a\\n[a]\\nfilesystem_store_datadir = \(demo.dir)/a\\nfilesystem_store_chunk_size = 0\\n' > \(demo.dir)/bad.conf")
        let invalid = sh("\(storefsBinary) mount --config-file \(demo.dir)/bad.conf \(demo.mountpoint)")
        #expect(invalid.status == 1)
        #expect(invalid.err.hasPrefix("\(demo.dir)/bad.conf:7: [a] filesystem_store_chunk_size:"), "\(invalid.err)")
        #expect(invalid.err.split(separator: "\n").count == 1)
        #expect(!isMounted(demo.mountpoint))

        let options = sh("\(storefsBinary) mount --config-file \(demo.config) \(demo.mountpoint) -o cache_timeout=soon")
        #expect(options.status == 2 && options.err.hasPrefix("Error: -o cache_timeout needs a number of seconds\n"))

        // No /dev/fuse: a private mount namespace with an empty /dev.
        let nofuse = sh("unshare -m sh -c 'mount -t tmpfs none /dev && exec \(storefsBinary) mount --config-file \(demo.config) \(demo.mountpoint)'")
        #expect(nofuse.status == 1)
        #expect(nofuse.err.hasPrefix("glance-storefs: /dev/fuse is missing"), "\(nofuse.err)")
        #expect(!isMounted(demo.mountpoint))
    }
}
}
