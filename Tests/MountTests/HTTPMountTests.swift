import Foundation
import Testing

extension MountSuite {
    /// The http store through a real mount, over a real nginx started by the project's script.
    @Suite struct HTTPMountTests {
        static let script = repositoryFile("scripts/test-nginx.sh")

        @Test func readOnlyStoreListsReadsAndRefusesEveryWrite() throws {
            let www = sh("mktemp -d /tmp/storefs-www.XXXXXX").out.trimmingCharacters(in: .whitespacesAndNewlines)
            defer { sh("bash \(Self.script) stop \(www); rm -rf \(www)") }
            let ports = sh("bash \(Self.script) start \(www)").out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            try #require(ports.count == 3)
            sh("head -c 5000001 /dev/urandom > \(www)/www/html/img-h && touch -d '2024-02-03 04:05:06' \(www)/www/html/img-h && chmod 644 \(www)/www/html/img-h")
            let demo = Demo(http: "storefs_index_url = http://user:pw@127.0.0.1:\(ports[0])/json/")
            try demo.mount()
            #expect(sh("ls -U \(demo.mountpoint)").out == "fast\ncheap\nweb\n")
            #expect(sh("stat -c '%A %s %Y' \(demo.path("web", "img-h"))").out == "-r--r--r-- 5000001 \(sh("stat -c %Y \(www)/www/html/img-h").out)")
            #expect(sh("stat -c %A \(demo.path("web"))").out == "dr-xr-xr-x\n")
            #expect(sh("cmp \(demo.path("web", "img-h")) \(www)/www/html/img-h").status == 0)
            #expect(sh("getfattr --only-values -n user.glance.location \(demo.path("web", "img-h"))").out == "http://127.0.0.1:\(ports[0])/json/img-h")
            #expect(sh("getfattr --only-values -n user.glance.store.read_only \(demo.path("web"))").out == "true")
            for command in ["cp /etc/hostname \(demo.path("web", "new"))", "rm \(demo.path("web", "img-h"))",
                            "touch \(demo.path("web", "img-h"))", "mv \(demo.path("web", "img-h")) \(demo.path("web", "x"))",
                            "mkdir \(demo.path("web", "d"))", "chmod 600 \(demo.path("web", "img-h"))",
                            "setfattr -n user.x -v 1 \(demo.path("web", "img-h"))", "truncate -s 0 \(demo.path("web", "img-h"))"] {
                let r = sh(command)
                #expect(r.status != 0 && r.err.contains("Read-only file system"), "\(command): \(r.err)")
            }
            // Copying out to a file store works (the migration direction).
            #expect(sh("cp \(demo.path("web", "img-h")) \(demo.path("fast"))/ && cmp \(demo.datadir("fast"))/img-h \(www)/www/html/img-h").status == 0)
            // A sequential read through the kernel's read-ahead (requests in batches, out of order)
            // fetches each 4 MiB chunk once.
            sh("head -c \(40 << 20) /dev/urandom > \(www)/www/html/img-big && chmod 644 \(www)/www/html/img-big")
            sh("sync; echo 3 > /proc/sys/vm/drop_caches")
            usleep(2_100_000)  // past the listing's freshness
            #expect(sh("cmp \(demo.path("web", "img-big")) \(www)/www/html/img-big").status == 0)
            usleep(300_000)
            // 10 chunks, each fetched whole once; before them at most the two reads that showed a run
            // begins, fetched as asked (a random reader gets only what it asks for).
            let chunkGets = sh("grep -c '^GET /json/img-big 206 4194304 ' \(www)/access.log").out
            #expect(chunkGets == "10\n", "GETs of whole chunks: \(chunkGets)")
            let gets = sh("grep '^GET /json/img-big ' \(www)/access.log | awk '{n++; b+=$4} END {print n, b}'").out
            let fields = gets.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            #expect(fields.count == 2 && fields[0] <= 12 && fields[1] <= (42 << 20), "GETs and bytes sent: \(gets)")
        }

        @Test func aHungServerFailsItsStoreWithEIOAndNothingElse() throws {
            let port = sh("/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'").out
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let silent = try #require(Child(["/usr/bin/python3", "-c", """
                import socket
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", \(port))); s.listen(64); held = []
                while True:
                    c, _ = s.accept(); held.append(c)
                """], output: "/tmp/storefs-silent-\(port)"))
            defer { kill(silent.pid, SIGKILL); silent.wait(); sh("rm -f /tmp/storefs-silent-\(port).*") }
            usleep(300_000)
            let demo = Demo(http: "storefs_index_url = http://127.0.0.1:\(port)/\nstorefs_timeout = 1")
            try expectDeadBackendFailsOnlyItsStore(demo, store: "web", within: 4)
        }
    }
}
