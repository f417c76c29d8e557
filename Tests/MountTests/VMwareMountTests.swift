import Foundation
import Testing

/// govmomi's vCenter simulator for the mount tests: the one `scripts/test.sh` started
/// (STOREFS_TEST_VCSIM_DIR) unless `own`, else one started here by `scripts/test-vcsim.sh` and stopped
/// when the value goes. Each test has an image directory of its own.
final class TestVCSim: @unchecked Sendable {
    let dir: String
    let port: String
    let directory = "m-" + UUID().uuidString.prefix(8).lowercased()
    private let owned: Bool

    init(own: Bool = false) throws {
        if !own, let shared = ProcessInfo.processInfo.environment["STOREFS_TEST_VCSIM_DIR"], !shared.isEmpty {
            dir = shared
            owned = false
        } else {
            dir = sh("mktemp -d /var/tmp/storefs-vcsim.XXXXXX").out.trimmingCharacters(in: .whitespacesAndNewlines)
            owned = true
            sh("bash \(TestVCSim.script) start \(dir)")
        }
        port = ((try? String(contentsOfFile: dir + "/port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(!port.isEmpty, "the simulator did not start (see \(dir)/log)")
    }

    deinit {
        if owned { sh("bash \(TestVCSim.script) stop \(dir); rm -rf \(dir)") }
    }

    static let script = repositoryFile("scripts/test-vcsim.sh")

    /// What LocalDS_<n> holds in the test's image directory (the simulator's own files).
    func files(datastore n: Int = 0) -> [String] {
        sh("ls -A \(dir)/datastores/LocalDS_\(n)/\(directory) 2>/dev/null").out.split(separator: "\n").map(String.init)
    }

    /// The requests of the test's image directory, from the simulator's access log.
    func requests(_ method: String) -> [String] {
        sh("grep -s '^\(method) /folder/\(directory)/' \(dir)/access.log").out.split(separator: "\n").map(String.init)
    }

    func options(_ extra: String = "") -> String {
        """
        vmware_server_host = 127.0.0.1:\(port)
        vmware_server_username = storefs
        vmware_server_password = vcsim-secret-Pw4x
        vmware_ca_file = \(dir)/tls/ca.pem
        vmware_store_image_dir = /\(directory)
        vmware_datastores = DC0:LocalDS_0
        vmware_datastores = DC0:LocalDS_1
        vmware_task_poll_interval = 1
        \(extra)
        """
    }
}

extension MountSuite {
    /// The vmware store through a real mount, over govmomi's vCenter simulator.
    @Suite struct VMwareMountTests {
        @Test func copyRsyncMoveRemoveAsOperatorsDo() throws {
            let vc = try TestVCSim()
            let demo = Demo(vmware: vc.options())
            try demo.mount()
            let source = demo.dir + "/source"
            sh("mkdir \(source) && head -c 5000001 /dev/urandom > \(source)/img-a && head -c 300000 /dev/urandom > \(source)/img-b")

            // cp in: the file `<image_dir>/img-a` on the first datastore, Glance's location.
            #expect(sh("cp -p \(source)/img-a \(demo.path("vm"))/").status == 0)
            #expect(sh("cmp \(demo.path("vm", "img-a")) \(source)/img-a").status == 0)
            // Beside it, the empty file that keeps the time cp -p set (a datastore file's own cannot be set).
            let files = vc.files()
            #expect(files.count == 2 && files[0].hasPrefix(".storefs-mtime.") && files[0].hasSuffix(".img-a") && files[1] == "img-a", "\(files)")
            #expect(sh("stat -c %y \(demo.path("vm", "img-a"))").out == sh("stat -c %y \(source)/img-a").out)
            #expect(sh("getfattr --only-values -n user.glance.location \(demo.path("vm", "img-a"))").out
                    == "vsphere://127.0.0.1:\(vc.port)/folder/\(vc.directory)/img-a?dsName=LocalDS_0&dcPath=DC0")
            #expect(sh("getfattr --only-values -n user.glance.vmware.datastore \(demo.path("vm", "img-a"))").out == "LocalDS_0")
            #expect(sh("qemu-img info \(demo.path("vm", "img-a"))").status == 0)

            // rsync -a in (temp name, then a move on the datastore) and out, twice each: the second
            // runs copy nothing, since the times stay.
            #expect(rsyncStats("\(source)/", "\(demo.path("vm"))/") == "Number of regular files transferred: 1\n")
            #expect(rsyncStats("\(source)/", "\(demo.path("vm"))/") == "Number of regular files transferred: 0\n")
            #expect(vc.files().filter { !$0.hasPrefix(".storefs-mtime.") } == ["img-a", "img-b"])  // no temporary name left
            // One upload per image, each to a temporary name; nothing was ever PUT to a final name.
            let uploads = vc.requests("PUT").filter { !$0.contains(".storefs-mtime.") }
            #expect(uploads.count == 2 && uploads.allSatisfy { $0.contains("/.storefs-partial.") }, "\(uploads)")
            #expect(rsyncStats("\(demo.path("vm"))/", "\(demo.dir)/out/") == "Number of regular files transferred: 2\n")
            #expect(rsyncStats("\(demo.path("vm"))/", "\(demo.dir)/out/") == "Number of regular files transferred: 0\n")
            #expect(sh("cmp \(demo.dir)/out/img-b \(source)/img-b").status == 0)
            #expect(sh("cmp \(demo.dir)/out/img-a \(source)/img-a").status == 0)

            // mv to a file store (across stores: copy, then unlink), rm: nothing stays on the datastore.
            #expect(sh("mv \(demo.path("vm", "img-a")) \(demo.path("fast"))/").status == 0)
            #expect(sh("cmp \(demo.datadir("fast"))/img-a \(source)/img-a").status == 0)
            #expect(sh("rm \(demo.path("vm", "img-b"))").status == 0)
            #expect(vc.files() == [])
            #expect(sh("ls -A \(demo.path("vm"))").out == "")
            let r = sh("rm \(demo.path("vm", "img-b"))")
            #expect(r.status != 0 && r.err.contains("No such file"))
        }

        @Test func killDuringAWriteLeavesNothingUnderTheFinalName() throws {
            let vc = try TestVCSim()
            let demo = Demo(vmware: vc.options())
            try demo.mount()
            #expect(try killDaemon(demo, duringCopyFrom: "/dev/urandom", to: demo.path("vm", "img-k"), count: 256, after: 40_000_000) != 0)
            demo.unmount()
            let left = vc.files()
            #expect(!left.contains("img-k"), "\(left)")
            #expect(left.count == 1 && left[0].hasPrefix(".storefs-partial.") && left[0].hasSuffix(".img-k"), "only the partial upload stays: \(left)")
            try demo.mount()
            #expect(sh("ls -A \(demo.path("vm"))").out == "")  // hidden: an upload cut short
            #expect(sh("stat \(demo.path("vm", "img-k"))").status != 0)
        }

        @Test func aKilledSimulatorFailsItsStoreWithinItsBoundAndNothingElse() throws {
            let vc = try TestVCSim(own: true)
            let demo = Demo(vmware: vc.options("vmware_api_retry_count = 2\nstorefs_timeout = 2"))
            sh("echo ok > \(demo.datadir("fast"))/img")
            try demo.mount()
            #expect(sh("echo hello > \(demo.path("vm", "img-v"))").status == 0)
            #expect(sh("cat \(demo.path("vm", "img-v"))").out == "hello\n")
            sh("kill -9 $(cat \(vc.dir)/log/vcsim.pid)")
            sleep(3)  // past the listing's 2-second freshness
            let start = Date()
            let r = sh("ls \(demo.path("vm"))")
            #expect(r.status != 0 && r.err.contains("Input/output error"), "\(r.err)")
            #expect(Date().timeIntervalSince(start) < 8, "failed after \(Date().timeIntervalSince(start)) s")
            #expect(sh("ls -U \(demo.mountpoint)").out == "fast\ncheap\nvm\n")
            #expect(sh("cat \(demo.path("fast", "img"))").out == "ok\n")
        }
    }
}
