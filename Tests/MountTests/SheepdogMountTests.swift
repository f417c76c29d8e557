import Foundation
import Testing

/// The sheep daemon's simulator for the mount tests: the one `scripts/test.sh` started
/// (STOREFS_TEST_SHEEPDOG_DIR) unless `own`, else one started here and stopped when the value goes.
/// Each test has a cluster of its own.
final class TestSheep: @unchecked Sendable {
    let dir: String
    let port: Int
    private let owned: Bool

    init(own: Bool = false) throws {
        if !own, let shared = ProcessInfo.processInfo.environment["STOREFS_TEST_SHEEPDOG_DIR"], !shared.isEmpty {
            dir = shared
            owned = false
        } else {
            dir = sh("mktemp -d /var/tmp/storefs-sheep.XXXXXX").out.trimmingCharacters(in: .whitespacesAndNewlines)
            owned = true
            sh("bash \(TestSheep.script) start \(dir)")
        }
        let control = sh("cat \(dir)/control.port").out.trimmingCharacters(in: .whitespacesAndNewlines)
        let answer = sh("/usr/bin/python3 -c 'import socket; s = socket.create_connection((\"127.0.0.1\", \(control.isEmpty ? "1" : control))); s.sendall(b\"new\\n\"); print(s.makefile().readline().strip())'")
        port = try #require(Int(answer.out.trimmingCharacters(in: .whitespacesAndNewlines)), "the simulator did not start (see \(dir)/log): \(answer.err)")
    }

    deinit {
        if owned { sh("bash \(TestSheep.script) stop \(dir); rm -rf \(dir)") }
    }

    static let script = repositoryFile("scripts/test-sheepdog.sh")
    static let tool = repositoryFile("Tests/Interop/sheep_tool.py")

    /// The live VDIs' names (snapshots marked `@<snap id>`), as dog would list them.
    func vdis() -> [String] {
        let json = sh("/usr/bin/python3 \(TestSheep.tool) \(port) vdis").out
        let list = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]) ?? []
        return list.map { ($0["name"] as? String ?? "?") + (($0["snapshot"] as? Bool) == true ? "@\($0["snap_id"] ?? 0)" : "") }.sorted()
    }

    func options(_ extra: String = "") -> String {
        "sheepdog_store_address = 127.0.0.1\nsheepdog_store_port = \(port)\n\(extra)"
    }
}

extension MountSuite {
    /// The sheepdog store through a real mount, over the sheep daemon's simulator.
    @Suite struct SheepdogMountTests {
        @Test func copyRsyncMoveRemoveAsOperatorsDo() throws {
            let sheep = try TestSheep()
            let demo = Demo(sheepdog: sheep.options())
            try demo.mount()
            let source = demo.dir + "/source"
            sh("mkdir \(source) && head -c 9000001 /dev/urandom > \(source)/img-a && head -c 300000 /dev/urandom > \(source)/img-b")

            #expect(sh("cp -p \(source)/img-a \(demo.path("sd"))/").status == 0)
            #expect(sh("cmp \(demo.path("sd", "img-a")) \(source)/img-a").status == 0)
            #expect(sh("/usr/bin/python3 \(TestSheep.tool) \(sheep.port) cat img-a | cmp - \(source)/img-a").status == 0)
            #expect(sh("stat -c %y \(demo.path("sd", "img-a"))").out == sh("stat -c %y \(source)/img-a").out)
            #expect(sh("getfattr --only-values -n user.glance.location \(demo.path("sd", "img-a"))").out == "sheepdog://127.0.0.1:\(sheep.port):img-a")
            #expect(sh("getfattr --only-values -n user.glance.sheepdog.block_size \(demo.path("sd", "img-a"))").out == "4194304")
            #expect(sh("qemu-img info \(demo.path("sd", "img-a"))").status == 0)
            #expect(sh("df -B1 --output=size \(demo.path("sd")) | tail -1").out.trimmingCharacters(in: .whitespacesAndNewlines) == String(16 << 30))

            // rsync -a in (temp name, then a clone of its base under the final name) and out, twice:
            // the second runs copy nothing.
            #expect(rsyncStats("\(source)/", "\(demo.path("sd"))/") == "Number of regular files transferred: 1\n")
            #expect(rsyncStats("\(source)/", "\(demo.path("sd"))/") == "Number of regular files transferred: 0\n")
            // Two images, each a clone of its base snapshot; no temporary or partial VDI left.
            #expect(sheep.vdis().filter { !$0.contains("@") } == ["img-a", "img-b"])
            #expect(sheep.vdis().filter { $0.contains("@") }.count == 2)
            #expect(rsyncStats("\(demo.path("sd"))/", "\(demo.dir)/out/") == "Number of regular files transferred: 2\n")
            #expect(rsyncStats("\(demo.path("sd"))/", "\(demo.dir)/out/") == "Number of regular files transferred: 0\n")
            #expect(sh("cmp \(demo.dir)/out/img-b \(source)/img-b").status == 0)

            // mv to a file store, rm: nothing stays in the cluster.
            #expect(sh("mv \(demo.path("sd", "img-a")) \(demo.path("fast"))/").status == 0)
            #expect(sh("cmp \(demo.datadir("fast"))/img-a \(source)/img-a").status == 0)
            #expect(sh("rm \(demo.path("sd", "img-b"))").status == 0)
            #expect(sheep.vdis() == [])
            #expect(sh("ls -A \(demo.path("sd"))").out == "")
        }

        @Test func killDuringAWriteLeavesNothingUnderTheFinalName() throws {
            let sheep = try TestSheep()
            let demo = Demo(sheepdog: sheep.options())
            try demo.mount()
            #expect(try killDaemon(demo, duringCopyFrom: "/dev/urandom", to: demo.path("sd", "img-k"), count: 64, after: 20_000_000) != 0)
            demo.unmount()
            let left = sheep.vdis()
            #expect(!left.contains("img-k"), "\(left)")
            #expect(left.count == 1 && left[0].hasPrefix(".storefs-partial.") && left[0].hasSuffix(".img-k"), "only the partial VDI stays: \(left)")
            try demo.mount()
            #expect(sh("ls -A \(demo.path("sd"))").out == "")
            #expect(sh("stat \(demo.path("sd", "img-k"))").status != 0)
        }

        @Test func aHungOrDeadDaemonFailsOnlyItsStore() throws {
            let sheep = try TestSheep(own: true)
            let demo = Demo(sheepdog: sheep.options("storefs_timeout = 2"))
            sh("echo ok > \(demo.datadir("fast"))/img")
            try demo.mount()
            #expect(sh("echo hello > \(demo.path("sd", "img-v"))").status == 0)
            #expect(sh("cat \(demo.path("sd", "img-v"))").out == "hello\n")
            // Hung (stopped, the connections open): EIO within the timeout and a little, not a hang;
            // back at once when it answers again (one probe a second), without a remount.
            // (An image never read yet: no page of it in the kernel's cache.)
            #expect(sh("echo again > \(demo.path("sd", "img-w"))").status == 0)
            let pid = sh("cat \(sheep.dir)/log/sheep.pid").out.trimmingCharacters(in: .whitespacesAndNewlines)
            sh("kill -STOP \(pid)")
            var start = Date()
            var r = sh("cat \(demo.path("sd", "img-w"))")
            #expect(r.status != 0 && r.err.contains("Input/output error"), "\(r.err)")
            #expect(Date().timeIntervalSince(start) < 8, "failed after \(Date().timeIntervalSince(start)) s")
            #expect(sh("cat \(demo.path("fast", "img"))").out == "ok\n")
            sh("kill -CONT \(pid)")
            #expect(waitUntil(seconds: 10) { sh("cat \(demo.path("sd", "img-w"))").out == "again\n" })
            // Killed: the same, for its store only.
            sh("kill -9 \(pid)")
            start = Date()
            r = sh("ls \(demo.path("sd"))")
            #expect(r.status != 0 && r.err.contains("Input/output error"), "\(r.err)")
            #expect(Date().timeIntervalSince(start) < 8, "failed after \(Date().timeIntervalSince(start)) s")
            #expect(sh("ls -U \(demo.mountpoint)").out == "fast\ncheap\nsd\n")
            #expect(sh("cat \(demo.path("fast", "img"))").out == "ok\n")
        }
    }
}
