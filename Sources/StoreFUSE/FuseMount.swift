import CFuse
import Dispatch
import Glibc
import Logging
import StoreFS
import Synchronization

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
    /// requests; one read request's worth (`maxRead`, about 1 MiB) cuts the per-request cost eightfold,
    /// and a window of exactly one request sends no small remainder request after each large one.
    /// Needs root (sysfs); without it the default stays. Called once the kernel has the INIT reply
    /// (which sets the 128 KiB), from outside the request.
    static func raiseReadahead(_ mountpoint: String, maxRead: Int, logger: Logger) {
        let readaheadKiB = maxRead / 1024
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
                           traceRequests: Bool, passthrough: Bool = true, onMounted: () -> Void) throws(Failure) {
        var options = options
        let maxRead = ReadSize.given(in: options) ?? ReadSize.maxRead(pipeMax: ReadSize.pipeMaxSize())
        if ReadSize.given(in: options) == nil { options.append("max_read=\(maxRead)") }
        let arguments = ["glance-storefs", "-o", options.joined(separator: ",")]
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var args = storefs_args_init(Int32(arguments.count), &cArguments)
        defer { fuse_opt_free_args(&args) }

        let context = FuseContext(fs: fs, logger: logger, traceRequests: traceRequests, mountpoint: mountpoint,
                                  maxRead: maxRead, passthrough: passthrough)
        let userdata = Unmanaged.passRetained(context)
        defer { userdata.release() }
        var ops = FuseOperations.table()
        guard let session = fuse_session_new(&args, &ops, MemoryLayout<fuse_lowlevel_ops>.size, userdata.toOpaque()) else {
            throw Failure(description: "invalid FUSE options: \(options.joined(separator: ","))")
        }
        var keepSession = false
        defer { if !keepSession { fuse_session_destroy(session) } }
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
        context.passthrough.install(on: session)
        logger.info("mounted", metadata: ["mountpoint": "\(mountpoint)", "stores": "\(fs.stores.map(\.store.id).joined(separator: ","))"])
        onMounted()
        let memory = IdleMemory.releaseWhenIdle(context)
        unblockTerminationSignals()
        let rc = storefs_session_loop_mt(session, maxThreads)
        blockTerminationSignals()
        memory.cancel()
        context.setSession(nil)
        // Unmounted first: whoever waits on the mount gets ENOTCONN now, not after the clean-up.
        fuse_session_unmount(session)
        // A positive result is the signal that ended the session: a normal, clean stop.
        if rc < 0 { logger.error("session ended with an error", metadata: ["error": "\(String(cString: strerror(-rc)))"]) }
        // Files still open (a signal, not fusermount3 -u): their writes are given up, and what they
        // sent to the stores removed, within a bound.
        let abandoned = waitSynchronously(seconds: shutdownBound) { await fs.shutdown() }
        if let abandoned, !abandoned.isEmpty {
            logger.warning("images being written were not published", metadata: ["images": "\(abandoned.joined(separator: ","))"])
        } else if abandoned == nil {
            logger.error("giving up the open writes took too long; their leftovers are removed at a later start")
        }
        let drained = waitSynchronously(seconds: 5) {
            while context.inFlight.load(ordering: .acquiring) > 0 { try? await Task.sleep(for: .milliseconds(20)) }
            return true
        } ?? false
        if !drained {
            // A late reply would use a destroyed session: the session is left to the process's exit.
            keepSession = true
            logger.warning("requests still in flight at exit", metadata: ["requests": "\(context.inFlight.load(ordering: .relaxed))"])
        }
        logger.info("unmounted", metadata: ["mountpoint": "\(mountpoint)"])
    }

    /// How long giving up open writes may take at exit (each is a removal at the backend, bounded
    /// by the store's timeout; a dead backend takes them back when it answers, or a later start).
    static let shutdownBound: Double = 30

    /// The result of `body`, or nil when it takes longer than `seconds`; for the synchronous exit path.
    static func waitSynchronously<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async -> T) -> T? {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<T?>(nil)
        Task {
            let value = await body()
            result.withLock { $0 = value }
            done.signal()
        }
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return result.withLock { $0 }
    }
}
