import Foundation
import Testing

/// mount-helpers/: the mount(8) helper with an fstab line and `mount -t`, and the systemd unit.
extension MountSuite { @Suite struct MountHelperTests {
    static let helpers = repositoryFile("mount-helpers")

    /// mount(8) looks for /sbin/mount.fuse.glance-storefs only; put ours there for the test and
    /// remove it after unless one was installed before.
    func withInstalledHelper(_ body: () throws -> Void) rethrows {
        let target = "/usr/sbin/mount.fuse.glance-storefs"
        let existed = FileManager.default.fileExists(atPath: target)
        if !existed { sh("install -m 0755 \(Self.helpers)/mount.fuse.glance-storefs \(target)") }
        defer { if !existed { sh("rm -f \(target)") } }
        try body()
    }

    @Test func fstabLineMountsThroughMountEight() throws {
        let demo = Demo()
        sh("echo hello > \(demo.datadir("fast"))/img-f")
        try withInstalledHelper {
            let example = try String(contentsOfFile: Self.helpers + "/fstab.example", encoding: .utf8)
            let line = try #require(example.split(separator: "\n").first { !$0.hasPrefix("#") })
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            #expect(fields.count == 6 && fields[2] == "fuse.glance-storefs")
            // The example's line, with this demo's config and mount point.
            sh("echo '\(demo.config) \(demo.mountpoint) \(fields[2]) \(fields[3]) \(fields[4]) \(fields[5])' > \(demo.dir)/fstab")
            let r = sh("mount -T \(demo.dir)/fstab \(demo.mountpoint)", environment: ["GLANCE_STOREFS_BIN": storefsBinary])
            defer { sh("umount \(demo.mountpoint)") }
            #expect(r.status == 0, "\(r.err)")
            #expect(sh("cat \(demo.path("fast", "img-f"))").out == "hello\n")
            #expect(sh("findmnt -n -o FSTYPE,OPTIONS \(demo.mountpoint)").out.hasPrefix("fuse.glance-storefs ro,"))
            #expect(sh("touch \(demo.path("fast", "img-f"))").err.contains("Read-only file system"))
        }
        #expect(!isMounted(demo.mountpoint))
    }

    @Test func mountDashTWithOptions() throws {
        let demo = Demo()
        withInstalledHelper {
            let r = sh("mount -t fuse.glance-storefs -o cache_timeout=1,default_permissions \(demo.config) \(demo.mountpoint)",
                       environment: ["GLANCE_STOREFS_BIN": storefsBinary])
            defer { sh("umount \(demo.mountpoint)") }
            #expect(r.status == 0, "\(r.err)")
            #expect(sh("ls -U \(demo.mountpoint)").out == "fast\ncheap\n")
            #expect(sh("cp /etc/hostname \(demo.path("cheap", "img-h")) && cat \(demo.datadir("cheap"))/img-h").out == sh("cat /etc/hostname").out)
        }
        #expect(!isMounted(demo.mountpoint))
    }

    @Test func systemdUnitVerifiesAndItsCommandsMountAndStop() throws {
        let demo = Demo()
        let unit = try String(contentsOfFile: Self.helpers + "/glance-storefs@.service", encoding: .utf8)
        // The unit with this build's binary, and the instance's paths in a temporary root.
        let local = unit.replacingOccurrences(of: "/usr/local/bin/glance-storefs", with: storefsBinary)
            .replacingOccurrences(of: "/etc/glance/%i.conf", with: "\(demo.dir)/%i.conf")
            .replacingOccurrences(of: "/mnt/glance/%i", with: "\(demo.dir)/m/%i")
        try local.write(toFile: "\(demo.dir)/glance-storefs@.service", atomically: true, encoding: .utf8)
        sh("cp \(demo.config) \(demo.dir)/glance-api.conf")
        let verify = sh("systemd-analyze verify \(demo.dir)/glance-storefs@glance-api.service")
        #expect(verify.status == 0, "\(verify.out)\(verify.err)")
        #expect(unit.contains("Type=forking"))
        // Run what systemd would: ExecStartPre, ExecStart (returns once mounted), then ExecStop.
        func commands(_ key: String) -> [String] {
            local.split(separator: "\n").filter { $0.hasPrefix(key + "=") }
                .map { String($0.dropFirst(key.count + 1)).replacingOccurrences(of: "%i", with: "glance-api") }
        }
        let mountpoint = "\(demo.dir)/m/glance-api"
        defer { if isMounted(mountpoint) { sh("fusermount3 -u \(mountpoint)") } }
        for command in commands("ExecStartPre") + commands("ExecStart") {
            let r = sh(command)
            #expect(r.status == 0, "\(command): \(r.err)")
        }
        #expect(isMounted(mountpoint))
        #expect(sh("ls -U \(mountpoint)").out == "fast\ncheap\n")
        for command in commands("ExecStop") { #expect(sh(command).status == 0) }
        #expect(!isMounted(mountpoint))
        #expect(waitUntil(seconds: 10) { sh("pgrep -f -- '\(mountpoint) -o allow_other -f'").out.isEmpty })
    }

    /// The man pages: clean under mandoc's lint, shown by man -l with the sections an operator looks
    /// for, and of the version the binary says.
    @Test func manPagesLintCleanAndSayTheBinarysVersion() throws {
        let page = repositoryFile("man/glance-storefs.1"), helper = repositoryFile("man/mount.fuse.glance-storefs.8")
        let lint = sh("mandoc -T lint -W warning \(page) \(helper)")
        #expect(lint.status == 0 && lint.out.isEmpty && lint.err.isEmpty, "\(lint.out)\(lint.err)")
        let shown = sh("MANWIDTH=100 man -l \(page) | col -b").out
        for section in ["SYNOPSIS", "COMMANDS", "OPTIONS", "MOUNT OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES"] {
            #expect(shown.contains("\n\(section)\n"), "no \(section)")
        }
        #expect(shown.contains("rsync -a /mnt/glance/local/ /mnt/glance/ceph/"))
        #expect(sh("MANWIDTH=100 man -l \(helper) | col -b").out.contains("fuse.glance-storefs"))
        let version = sh("\(storefsBinary) --version")
        #expect(version.status == 0)
        let number = version.out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").last.map(String.init) ?? "?"
        #expect(version.out == "glance-storefs \(number)\n")
        #expect(sh("grep -c '^.Os glance-storefs \(number)$' \(page) \(helper)").out == "\(page):1\n\(helper):1\n")
    }
}
}
