import Foundation
import Testing

/// A child process started with posix_spawn and reaped with waitpid on its own pid (Foundation's
/// Process loses children when several tests run processes at once).
final class Child: @unchecked Sendable {
    let pid: pid_t
    private var status: Int32?

    init?(_ argv: [String], output: String, environment: [String: String] = [:]) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output + ".out", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, output + ".err", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        // A clean signal mask and SIGPIPE at its default: the spawning thread is a Dispatch or
        // concurrency thread, which blocks most signals — a child would inherit that, and so would
        // every daemon the child starts (a SIGTERM that never arrives: a stop that waits forever).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        guard posix_spawn(&pid, argv[0], &actions, &attributes, &cArgs, &cEnv) == 0 else { return nil }
        self.pid = pid
    }

    var isRunning: Bool {
        if status != nil { return false }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid { status = raw; return false }
        return true
    }

    /// The exit code (128 + signal when killed).
    @discardableResult
    func wait() -> Int32 {
        if status == nil {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            status = raw
        }
        let raw = status!
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
    }

    deinit { if isRunning { kill(pid, SIGKILL); wait() } }
}

/// Runs a bash command line; its output goes through files (no pipe to fill up).
@discardableResult
func sh(_ command: String, environment: [String: String] = [:]) -> (status: Int32, out: String, err: String) {
    let base = "/tmp/storefs-sh-\(UUID().uuidString)"
    defer { unlink(base + ".out"); unlink(base + ".err") }
    guard let child = Child(["/bin/bash", "-c", command], output: base, environment: environment) else { return (127, "", "spawn failed") }
    let status = child.wait()
    return (status, (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
}

/// The `glance-storefs` built next to this test bundle.
let storefsBinary: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // The test bundle may be a directory (…/X.xctest/…); walk up to the build directory.
    while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("glance-storefs").path), dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir.appendingPathComponent("glance-storefs").path
}()

func isMounted(_ path: String) -> Bool {
    guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
    return table.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first.map(String.init) == path }
}

func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// A Glance configuration with file stores in a fresh directory, mounted in the foreground by a
/// process this fixture owns: it unmounts and stops it when released, also after a failed test.
final class Demo: @unchecked Sendable {
    let dir: String
    let config: String
    let mountpoint: String
    let stores: [String]
    private(set) var process: Child?
    private let logBase: String

    /// `http`: the options of an http store `web` added after the file stores; `rbd`: those of an
    /// rbd store `ceph` after them; `swift`: those of a swift store `obj`; `cinder`: a cinder store `vols`;
    /// `vmware`: a vmware store `vm`; `sheepdog`: a sheepdog store `sd` last.
    init(stores: [String] = ["fast", "cheap"], extra: String = "", http: String? = nil, rbd: String? = nil, swift: String? = nil,
         cinder: String? = nil, vmware: String? = nil, sheepdog: String? = nil) {
        dir = sh("mktemp -d /tmp/storefs-test.XXXXXX").out.trimmingCharacters(in: .whitespacesAndNewlines)
        self.stores = stores
        config = dir + "/glance-api.conf"
        mountpoint = dir + "/mnt"
        logBase = dir + "/daemon"
        try? FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        var text = "[DEFAULT]\nenabled_backends = " + stores.map { "\($0):file" }.joined(separator: ", ")
            + (http == nil ? "" : ", web:http") + (rbd == nil ? "" : ", ceph:rbd") + (swift == nil ? "" : ", obj:swift")
            + (cinder == nil ? "" : ", vols:cinder") + (vmware == nil ? "" : ", vm:vmware") + (sheepdog == nil ? "" : ", sd:sheepdog") + "\n"
        text += "\n[glance_store]\ndefault_backend = \(stores[0])\n"
        for store in stores {
            text += "\n[\(store)]\nfilesystem_store_datadir = \(dir)/data/\(store)\nstore_description = The \(store) store\n"
        }
        text += "\n[os_glance_staging_store]\nfilesystem_store_datadir = \(dir)/staging\n"
        text += "\n[os_glance_tasks_store]\nfilesystem_store_datadir = \(dir)/tasks\n"
        if let http { text += "\n[web]\n\(http)\n" }
        if let rbd { text += "\n[ceph]\n\(rbd)\n" }
        if let swift { text += "\n[obj]\n\(swift)\n" }
        if let cinder { text += "\n[vols]\n\(cinder)\n" }
        if let vmware { text += "\n[vm]\n\(vmware)\n" }
        if let sheepdog { text += "\n[sd]\n\(sheepdog)\n" }
        text += extra
        _ = FileManager.default.createFile(atPath: config, contents: Data(text.utf8))
        for store in stores { try? FileManager.default.createDirectory(atPath: datadir(store), withIntermediateDirectories: true) }
    }

    func datadir(_ store: String) -> String { "\(dir)/data/\(store)" }
    func path(_ store: String, _ image: String = "") -> String { image.isEmpty ? "\(mountpoint)/\(store)" : "\(mountpoint)/\(store)/\(image)" }
    var stagingDirectory: String { "\(dir)/staging/glance-storefs" }
    var log: String { (try? String(contentsOfFile: logBase + ".err", encoding: .utf8)) ?? "" }

    /// Mounts with `glance-storefs mount -f` and waits for the mount to appear.
    func mount(_ options: [String] = []) throws {
        let argv = [storefsBinary, "mount", "--config-file", config, mountpoint, "-f"] + options.flatMap { ["-o", $0] }
        let process = try #require(Child(argv, output: logBase))
        self.process = process
        let up = waitUntil(seconds: 15) { isMounted(mountpoint) || !process.isRunning }
        try #require(up && isMounted(mountpoint), "not mounted: \(self.log)")
    }

    /// Unmounts (fusermount3 -u) and waits for the daemon to end; kills it by PID if it does not.
    func unmount() {
        if isMounted(mountpoint) { sh("fusermount3 -u \(mountpoint) || fusermount3 -uz \(mountpoint)") }
        if let process {
            if !waitUntil(seconds: 10, { !process.isRunning }) { kill(process.pid, SIGKILL) }
            process.wait()
        }
        process = nil
        if isMounted(mountpoint) { sh("fusermount3 -uz \(mountpoint)") }
    }

    deinit {
        unmount()
        sh("rm -rf \(dir)")
    }
}

/// Every mount test runs one after the other (Swift Testing runs suites in parallel otherwise):
/// two cores, large copies and kill -9 do not mix well.
@Suite(.serialized) enum MountSuite {}

/// Copies `count` MiB from `source` to `path` with dd and kills the daemon (SIGKILL) once at least
/// `bytes` went through it; returns dd's exit status (it fails: the mount went away under it).
func killDaemon(_ demo: Demo, duringCopyFrom source: String, to path: String, count: Int, after bytes: Int) throws -> Int32 {
    let pid = try #require(demo.process).pid
    let copy = try #require(Child(["/bin/dd", "if=\(source)", "of=\(path)", "bs=1M", "count=\(count)"], output: demo.dir + "/dd"))
    _ = waitUntil(seconds: 30) {
        (Int(sh("grep -s wchar /proc/\(copy.pid)/io | awk '{print $2}'").out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= bytes
    }
    kill(pid, SIGKILL)
    return copy.wait()
}

/// Mounts `demo`, whose store `store` has a dead backend, and checks that listing it fails with EIO
/// within `seconds` while the root and the file stores work on.
func expectDeadBackendFailsOnlyItsStore(_ demo: Demo, store: String, within seconds: Double,
                                        sourceLocation: SourceLocation = #_sourceLocation) throws {
    sh("echo ok > \(demo.datadir("fast"))/img")
    try demo.mount()
    let start = Date()
    let r = sh("ls \(demo.path(store))")
    #expect(r.status != 0 && r.err.contains("Input/output error"), "\(r.err)", sourceLocation: sourceLocation)
    #expect(Date().timeIntervalSince(start) < seconds, "failed after \(Date().timeIntervalSince(start)) s", sourceLocation: sourceLocation)
    #expect(sh("ls -U \(demo.mountpoint)").out == demo.stores.joined(separator: "\n") + "\n\(store)\n", sourceLocation: sourceLocation)
    #expect(sh("cat \(demo.path("fast", "img"))").out == "ok\n", sourceLocation: sourceLocation)
}

/// `rsync -a --stats FROM TO`'s line "Number of regular files transferred: N" (a second run after a
/// complete one must say 0: the sizes and times the mount shows are kept).
func rsyncStats(_ from: String, _ to: String) -> String {
    sh("rsync -a --stats \(from) \(to) | grep 'Number of regular files transferred'").out
}

/// A file of the repository (`scripts/test-swift.sh`...), found from this source file upwards.
func repositoryFile(_ relative: String, from source: String = #filePath) -> String {
    var dir = URL(fileURLWithPath: source).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent(relative).path) { dir.deleteLastPathComponent() }
    return dir.appendingPathComponent(relative).path
}
