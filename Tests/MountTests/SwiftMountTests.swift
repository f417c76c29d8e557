import Foundation
import Testing

/// A Swift for the mount tests: the one `scripts/test.sh` started (STOREFS_TEST_SWIFT_DIR), else one
/// started here by `scripts/test-swift.sh` and stopped when the value goes. Each test has its own container.
final class TestSwift: @unchecked Sendable {
    let dir: String
    let port: String
    let container = "m-" + UUID().uuidString.prefix(8).lowercased()
    private let owned: Bool

    init() throws {
        if let shared = ProcessInfo.processInfo.environment["STOREFS_TEST_SWIFT_DIR"], !shared.isEmpty {
            dir = shared
            owned = false
        } else {
            dir = sh("mktemp -d /var/tmp/storefs-swift.XXXXXX").out.trimmingCharacters(in: .whitespacesAndNewlines)
            owned = true
            sh("bash \(TestSwift.script) start \(dir)")
        }
        port = String(((try? String(contentsOfFile: dir + "/ports", encoding: .utf8)) ?? "").split(separator: " ").first ?? "")
        try #require(!port.isEmpty, "Swift did not start")
    }

    deinit {
        if owned { sh("bash \(TestSwift.script) stop \(dir); rm -rf \(dir)") }
    }

    static let script = repositoryFile("scripts/test-swift.sh")

    /// The swift CLI (OpenStack's, /usr/bin/swift) on this cluster.
    func cli(_ args: String) -> (status: Int32, out: String, err: String) {
        sh("/usr/bin/swift --auth http://127.0.0.1:\(port)/auth/v1.0 -U test:tester -K testing \(args)")
    }

    /// The container's objects, by the swift CLI (a failure to list is a failure, not "none").
    func objects() throws -> [String] {
        let r = cli("list \(container)")
        try #require(r.status == 0, "swift list \(container): \(r.err)")
        return r.out.split(separator: "\n").map(String.init)
    }

    /// The store's options: Glance's deprecated inline credentials, small large objects.
    func options(_ extra: String = "") -> String {
        """
        swift_store_auth_address = http://127.0.0.1:\(port)/auth/v1.0
        swift_store_user = test:tester
        swift_store_key = testing
        swift_store_auth_version = 1
        swift_store_container = \(container)
        swift_store_create_container_on_put = true
        swift_store_large_object_size = 2
        swift_store_large_object_chunk_size = 1
        \(extra)
        """
    }
}

extension MountSuite {
    /// The swift store through a real mount, over a real Swift.
    @Suite struct SwiftMountTests {
        @Test func listingShowsDLOsSLOsAndPlainObjectsWithTheirSizes() throws {
            let swift = try TestSwift()
            let demo = Demo(swift: swift.options())
            sh("head -c 2500000 /dev/urandom > \(demo.dir)/big && head -c 1000 /dev/urandom > \(demo.dir)/a && head -c 1500 /dev/urandom > \(demo.dir)/b")
            // Glance's DLO layout, the swift CLI's SLO, a plain object.
            #expect(swift.cli("post \(swift.container)").status == 0)
            #expect(swift.cli("upload \(swift.container) \(demo.dir)/a --object-name glance-dlo-00001").status == 0)
            #expect(swift.cli("upload \(swift.container) \(demo.dir)/b --object-name glance-dlo-00002").status == 0)
            sh("touch \(demo.dir)/empty")
            #expect(swift.cli("upload \(swift.container) \(demo.dir)/empty --object-name glance-dlo -H 'X-Object-Manifest: \(swift.container)/glance-dlo-'").status == 0)
            #expect(swift.cli("upload --use-slo -S 1048576 \(swift.container) \(demo.dir)/big --object-name slo").status == 0)
            #expect(swift.cli("upload \(swift.container) \(demo.dir)/a --object-name plain").status == 0)
            try demo.mount()
            // The swift CLI keeps the file's mtime in X-Object-Meta-Mtime: a lookup shows it, and
            // the listings after it (a listing alone cannot see that header).
            #expect(sh("stat -c %Y \(demo.path("obj", "plain"))").out == sh("stat -c %Y \(demo.dir)/a").out)
            let listing = sh("ls -l \(demo.path("obj")) | awk 'NR>1 {print $5, $9}'").out
            #expect(listing == "2500 glance-dlo\n1000 plain\n2500000 slo\n", "\(listing)")
            #expect(sh("cat \(demo.dir)/a \(demo.dir)/b | cmp - \(demo.path("obj", "glance-dlo"))").status == 0)
            #expect(sh("cmp \(demo.dir)/big \(demo.path("obj", "slo"))").status == 0)
            #expect(sh("stat \(demo.path("obj", "glance-dlo-00001"))").status != 0)  // segments are not images
            #expect(sh("ls -l --time-style=+%s \(demo.path("obj", "plain")) | awk '{print $6}'").out == sh("stat -c %Y \(demo.dir)/a").out)
            #expect(sh("getfattr --only-values -n user.glance.swift.large_object \(demo.path("obj", "slo"))").out == "slo")
        }

        @Test func copyRsyncMoveRemoveAsOperatorsDo() throws {
            let swift = try TestSwift()
            let demo = Demo(swift: swift.options())
            try demo.mount()
            let source = demo.dir + "/source"
            sh("mkdir \(source) && head -c 5000001 /dev/urandom > \(source)/img-a && head -c 300000 /dev/urandom > \(source)/img-b")

            // cp in: a DLO in Glance's layout (5 segments of 1,024,000 bytes, manifest last); -p keeps the time.
            #expect(sh("cp -p \(source)/img-a \(demo.path("obj"))/").status == 0)
            #expect(sh("cmp \(demo.path("obj", "img-a")) \(source)/img-a").status == 0)
            #expect(try swift.objects() == ["img-a"] + (1...5).map { "img-a-0000\($0)" })
            #expect(sh("stat -c %s \(demo.path("obj", "img-a"))").out == "5000001\n")
            #expect(sh("getfattr --only-values -n user.glance.location \(demo.path("obj", "img-a"))").out
                    == "swift+http://127.0.0.1:\(swift.port)/auth/v1.0/\(swift.container)/img-a")
            #expect(sh("qemu-img info \(demo.path("obj", "img-a"))").status == 0)

            // rsync -a in (its temporary file held until the rename publishes it, one PUT) and out, twice each: the second
            // runs copy nothing, since the times stay.
            #expect(rsyncStats("\(source)/", "\(demo.path("obj"))/") == "Number of regular files transferred: 1\n")
            #expect(rsyncStats("\(source)/", "\(demo.path("obj"))/") == "Number of regular files transferred: 0\n")
            #expect(try swift.objects().filter { !$0.hasPrefix("img-a") } == ["img-b"])  // no temporary name left
            #expect(rsyncStats("\(demo.path("obj"))/", "\(demo.dir)/out/") == "Number of regular files transferred: 2\n")
            #expect(rsyncStats("\(demo.path("obj"))/", "\(demo.dir)/out/") == "Number of regular files transferred: 0\n")
            #expect(sh("cmp \(demo.dir)/out/img-b \(source)/img-b").status == 0)
            #expect(sh("cmp \(demo.dir)/out/img-a \(source)/img-a").status == 0)

            // mv to a file store (across stores: copy, then unlink), rm: no segment stays behind.
            #expect(sh("mv \(demo.path("obj", "img-a")) \(demo.path("fast"))/").status == 0)
            #expect(sh("cmp \(demo.datadir("fast"))/img-a \(source)/img-a").status == 0)
            #expect(sh("rm \(demo.path("obj", "img-b"))").status == 0)
            #expect(try swift.objects() == [])
            #expect(sh("ls -A \(demo.path("obj"))").out == "")
        }

        @Test func killDuringAWriteLeavesNoManifest() throws {
            let swift = try TestSwift()
            let demo = Demo(swift: swift.options())
            try demo.mount()
            // Past the 32 MiB held in memory: segments are being written when the daemon dies.
            #expect(try killDaemon(demo, duringCopyFrom: "/dev/urandom", to: demo.path("obj", "img-k"), count: 1024, after: 50_000_000) != 0)
            demo.unmount()
            let left = try swift.objects()
            #expect(!left.contains("img-k"), "\(left)")
            #expect(!left.isEmpty && left.allSatisfy { $0.hasPrefix("img-k-0") }, "only segments stay: \(left)")
            try demo.mount()
            #expect(sh("ls -A \(demo.path("obj"))").out == "")  // hidden: a series without a manifest
        }

        @Test func aDeadProxyFailsItsStoreWithinTheTimeoutAndNothingElse() throws {
            let port = sh("/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'").out
                .trimmingCharacters(in: .whitespacesAndNewlines)
            // A proxy that accepts connections and never answers.
            let silent = try #require(Child(["/usr/bin/python3", "-c",
                "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',\(port)))\ns.listen(64)\nc=[]\nwhile True: c.append(s.accept())"],
                output: "/tmp/storefs-silent-\(port)"))
            defer { kill(silent.pid, SIGKILL); _ = silent.wait() }
            let demo = Demo(swift: """
                swift_store_auth_address = http://127.0.0.1:\(port)/auth/v1.0
                swift_store_user = test:tester
                swift_store_key = testing
                swift_store_auth_version = 1
                storefs_timeout = 2
                """)
            try expectDeadBackendFailsOnlyItsStore(demo, store: "obj", within: 8)
        }
    }
}
