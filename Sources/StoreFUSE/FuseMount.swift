import CFuse
import Dispatch
import Glibc
import Logging
import StoreFS

/// One mounted session: mount, serve requests on a pool of libfuse threads until unmounted or
/// signalled (SIGINT/SIGTERM/SIGHUP), then unmount and tear down.
public enum FuseMount {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Threads libfuse may run; requests are answered from Tasks, so these mostly just read /dev/fuse.
    static let maxThreads: UInt32 = 16

    /// Blocks the termination signals in the calling thread and every thread it creates after, so
    /// that only the thread running the session loop (which unblocks them) receives them: libfuse's
    /// handler then interrupts its wait and the session ends cleanly. Call first thing in main.
    public static func blockTerminationSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    static func unblockTerminationSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// The kernel starts a FUSE mount with 128 KiB of readahead, so a sequential reader sends 128 KiB
    /// requests; 1 MiB (one request, the negotiated maximum) cuts the per-request cost eightfold.
    /// Needs root (sysfs); without it the default stays. Called once the kernel has the INIT reply
    /// (which sets the 128 KiB), from outside the request.
    static let readaheadKiB = 1024

    static func raiseReadahead(_ mountpoint: String, logger: Logger) {
        // The device from mountinfo: a stat of the mount point would wait for this very daemon.
        guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8),
              let line = table.split(separator: "\n").last(where: { $0.split(separator: " ").dropFirst(4).first.map(String.init) == mountpoint }),
              let device = line.split(separator: " ").dropFirst(2).first else { return }
        let path = "/sys/class/bdi/\(device)/read_ahead_kb"
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let text = "\(readaheadKiB)\n"
        if write(fd, text, text.utf8.count) < 0 {
            logger.debug("cannot raise readahead", metadata: ["path": "\(path)"])
        }
    }

    /// Mounts `fs` at `mountpoint` with libfuse's `-o` options, calls `onMounted`, and serves until
    /// the file system is unmounted. Returns normally after a clean unmount.
    public static func run(fs: StoreFilesystem, mountpoint: String, options: [String], logger: Logger,
                           traceRequests: Bool, onMounted: () -> Void) throws(Failure) {
        var arguments = ["glance-storefs"]
        if !options.isEmpty { arguments += ["-o", options.joined(separator: ",")] }
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var args = storefs_args_init(Int32(arguments.count), &cArguments)
        defer { fuse_opt_free_args(&args) }

        let context = FuseContext(fs: fs, logger: logger, traceRequests: traceRequests, mountpoint: mountpoint)
        let userdata = Unmanaged.passRetained(context)
        defer { userdata.release() }
        var ops = FuseOperations.table()
        guard let session = fuse_session_new(&args, &ops, MemoryLayout<fuse_lowlevel_ops>.size, userdata.toOpaque()) else {
            throw Failure(description: "invalid FUSE options: \(options.joined(separator: ","))")
        }
        defer { fuse_session_destroy(session) }
        context.setSession(session)
        fs.onInvalidate { ino in
            // Sent from another thread: a notice must not be written from inside the request it concerns.
            DispatchQueue.global().async {
                if let session = context.session { _ = fuse_lowlevel_notify_inval_inode(session, ino, 0, 0) }
            }
        }
        guard fuse_set_signal_handlers(session) == 0 else { throw Failure(description: "cannot install signal handlers") }
        defer { fuse_remove_signal_handlers(session) }
        guard fuse_session_mount(session, mountpoint) == 0 else {
            throw Failure(description: "cannot mount on \(mountpoint) (see the libfuse message above)")
        }
        logger.info("mounted", metadata: ["mountpoint": "\(mountpoint)", "stores": "\(fs.stores.map(\.store.id).joined(separator: ","))"])
        onMounted()
        unblockTerminationSignals()
        let rc = storefs_session_loop_mt(session, maxThreads)
        blockTerminationSignals()
        context.setSession(nil)
        fuse_session_unmount(session)
        // A positive result is the signal that ended the session: a normal, clean stop.
        if rc < 0 { logger.error("session ended with an error", metadata: ["error": "\(String(cString: strerror(-rc)))"]) }
        logger.info("unmounted", metadata: ["mountpoint": "\(mountpoint)"])
    }
}
