import Foundation
import Testing

/// A Cinder for the mount tests: the one `scripts/test.sh` started (STOREFS_TEST_CINDER_DIR, with its
/// Ceph and Keystone), else a whole stack started here by the project's scripts and stopped when
/// the value goes.
final class TestCinder: @unchecked Sendable {
    let dir: String
    let cephConf: String
    let keystoneDir: String
    private let own: String?

    init() throws {
        let env = ProcessInfo.processInfo.environment
        if let shared = env["STOREFS_TEST_CINDER_DIR"], !shared.isEmpty, let ceph = env["STOREFS_TEST_CEPH_CONF"],
           let keystone = env["STOREFS_TEST_KEYSTONE_DIR"] {
            dir = shared
            cephConf = ceph
            keystoneDir = keystone
            own = nil
        } else {
            let base = sh("mktemp -d /var/tmp/storefs-cinder-stack.XXXXXX").out.trimmingCharacters(in: .whitespacesAndNewlines)
            own = base
            cephConf = sh("bash \(repositoryFile("scripts/test-ceph.sh")) start \(base)/ceph").out.trimmingCharacters(in: .whitespacesAndNewlines)
            sh("bash \(repositoryFile("scripts/test-swift.sh")) start \(base)/swift")
            keystoneDir = base + "/keystone"
            sh("bash \(repositoryFile("scripts/test-keystone.sh")) start \(keystoneDir) \(base)/swift")
            dir = base + "/cinder"
            sh("bash \(repositoryFile("scripts/test-cinder.sh")) start \(dir) \(cephConf) \(keystoneDir)")
        }
        try #require(FileManager.default.fileExists(atPath: dir + "/port"), "Cinder did not start (see \(dir)/log)")
        setenv("CEPH_CONF", cephConf, 1)  // the daemon's librados finds client.cinder's keyring by it
    }

    deinit {
        if let own {
            sh("""
                bash \(repositoryFile("scripts/test-cinder.sh")) stop \(own)/cinder; bash \(repositoryFile("scripts/test-ceph.sh")) stop \(own)/ceph
                bash \(repositoryFile("scripts/test-keystone.sh")) stop \(own)/keystone; bash \(repositoryFile("scripts/test-swift.sh")) stop \(own)/swift
                rm -rf \(own)
                """)
        }
    }

    var keystoneAuth: String {
        let port = ((try? String(contentsOfFile: keystoneDir + "/ports", encoding: .utf8)) ?? "").split(separator: " ").first ?? ""
        return "http://127.0.0.1:\(port)/v3"
    }

    func tool(_ args: String) -> (status: Int32, out: String, err: String) {
        sh("/usr/bin/python3 \(repositoryFile("Tests/Interop/cinder_tool.py")) \(dir) \(keystoneDir) \(cephConf) \(args)")
    }

    /// A volume type of its own on `backend` (rbd or nfs): the test sees only its volumes.
    func makeType(_ backend: String) -> String {
        let name = "m-" + UUID().uuidString.prefix(8).lowercased()
        tool("type \(name) \(backend)-1")
        return name
    }

    func dropType(_ name: String) { tool("drop-type \(name)") }

    /// name, status and attachment count of each volume of the type.
    func volumes(_ type: String) -> [(name: String, status: String, attachments: Int)] {
        let out = tool("volumes \(type)").out
        let list = (try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]]) ?? []
        return list.map { ($0["name"] as? String ?? "", $0["status"] as? String ?? "", $0["attachments"] as? Int ?? -1) }
    }

    func options(type: String, extra: String = "") -> String {
        """
        cinder_store_auth_address = \(keystoneAuth)
        cinder_store_user_name = glance
        cinder_store_password = glancepw
        cinder_store_project_name = images
        cinder_volume_type = \(type)
        \(extra)
        """
    }
}

extension MountSuite {
    /// The cinder store through a real mount, over a real Cinder (volumes on RBD and NFS).
    @Suite struct CinderMountTests {
        @Test(arguments: ["rbd", "nfs"])
        func copyRsyncMoveRemoveAsOperatorsDo(_ backend: String) throws {
            let cinder = try TestCinder()
            let type = cinder.makeType(backend)
            defer { cinder.dropType(type) }
            let demo = Demo(cinder: cinder.options(type: type))
            try demo.mount()
            let source = demo.dir + "/source"
            sh("mkdir \(source) && head -c 5000001 /dev/urandom > \(source)/img-a && head -c 3000000 /dev/urandom > \(source)/img-b")

            #expect(sh("cp -p \(source)/img-a \(demo.path("vols"))/").status == 0)
            #expect(sh("cmp \(demo.path("vols", "img-a")) \(source)/img-a").status == 0)
            #expect(sh("stat -c %s \(demo.path("vols", "img-a"))").out == "5000001\n")
            #expect(sh("qemu-img info \(demo.path("vols", "img-a"))").status == 0)
            #expect(cinder.volumes(type).map(\.name) == ["image-img-a"])
            #expect(sh("getfattr --only-values -n user.glance.location \(demo.path("vols", "img-a"))").out.hasPrefix("cinder://vols/"))
            #expect(sh("getfattr --only-values -n user.glance.cinder.transport \(demo.path("vols", "img-a"))").out == backend)
            #expect(sh("getfattr --only-values -n user.glance.checksum \(demo.path("vols", "img-a"))").out + "  -\n"
                    == sh("md5sum < \(source)/img-a").out)

            // rsync -a in (its temporary file renamed: a volume rename) and out, twice each.
            #expect(rsyncStats("\(source)/", "\(demo.path("vols"))/") == "Number of regular files transferred: 1\n")
            #expect(rsyncStats("\(source)/", "\(demo.path("vols"))/") == "Number of regular files transferred: 0\n")
            #expect(cinder.volumes(type).map(\.name).sorted() == ["image-img-a", "image-img-b"])
            #expect(rsyncStats("\(demo.path("vols"))/", "\(demo.dir)/out/") == "Number of regular files transferred: 2\n")
            #expect(rsyncStats("\(demo.path("vols"))/", "\(demo.dir)/out/") == "Number of regular files transferred: 0\n")
            #expect(sh("cmp \(demo.dir)/out/img-b \(source)/img-b").status == 0)

            // mv to a file store and back, rm (right after a read: the idle read attachment goes first).
            let out = sh("mv \(demo.path("vols", "img-a")) \(demo.path("fast"))/")
            #expect(out.status == 0, "\(out.err)")
            #expect(sh("cmp \(demo.datadir("fast"))/img-a \(source)/img-a").status == 0)
            let back = sh("mv \(demo.path("fast", "img-a")) \(demo.path("vols"))/")
            #expect(back.status == 0, "\(back.err)")
            #expect(sh("cat \(demo.path("vols", "img-b")) > /dev/null && rm \(demo.path("vols", "img-b"))").status == 0)
            #expect(sh("ls \(demo.path("vols"))").out == "img-a\n")
            // Cinder deletes in the background (`deleting`, then gone).
            #expect(waitUntil(seconds: 30) { cinder.volumes(type).map(\.name) == ["image-img-a"] }, "\(cinder.volumes(type))")
            demo.unmount()
            // No attachment left by the mount: every volume available.
            #expect(cinder.volumes(type).map { "\($0.status) \($0.attachments)" } == ["available 0"])
        }

        @Test func killDuringAWriteLeavesNoImageUnderItsName() throws {
            let cinder = try TestCinder()
            let type = cinder.makeType("rbd")
            defer { cinder.dropType(type) }
            let demo = Demo(cinder: cinder.options(type: type))
            try demo.mount()
            #expect(try killDaemon(demo, duringCopyFrom: "/dev/urandom", to: demo.path("vols", "img-k"), count: 64, after: 10_000_000) != 0)
            demo.unmount()
            let left = cinder.volumes(type).map(\.name)
            #expect(!left.contains("image-img-k"), "\(left)")
            #expect(left.count == 1 && left[0].hasPrefix("storefs-partial-img-k."), "the interrupted write keeps its temporary name: \(left)")
            try demo.mount()
            #expect(sh("ls -A \(demo.path("vols"))").out == "")
            // The start's look for leftovers runs beside the mount: its report comes within seconds.
            #expect(waitUntil(seconds: 20) { demo.log.contains("a partial image's volume") }, "a young leftover is reported")
        }

        @Test func aDeadCinderAPIFailsItsStoreWithinItsBoundAndNothingElse() throws {
            let cinder = try TestCinder()
            let port = sh("/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'").out
                .trimmingCharacters(in: .whitespacesAndNewlines)
            // Keystone answers; the Cinder it leads to does not.
            let demo = Demo(cinder: cinder.options(type: "none", extra: "cinder_endpoint_template = http://127.0.0.1:\(port)/v3/%(tenant)s"))
            try expectDeadBackendFailsOnlyItsStore(demo, store: "vols", within: 8)
        }
    }
}
