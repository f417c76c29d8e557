import CFuse
import CSystemShims
import Glibc
import Synchronization

/// Read-only opens of a file store's images handed to the kernel (FUSE passthrough, Linux 6.9+):
/// the kernel then reads the image's file itself, with its own page cache and read-ahead, and no
/// read reaches the daemon. Four parallel `cat` of file-store images ran at 0.45-0.66x four `cat`
/// of the datadir files through the daemon (every byte crossed /dev/fuse and was cached twice).
///
/// libfuse 3.14 predates passthrough: the session's custom I/O (storefs_passthrough.c) asks for it
/// in INIT and adds the backing file to the OPEN replies offered one here. Without it (an older
/// kernel, no CAP_SYS_ADMIN for the backing ioctl, `-o nopassthrough`) reads go through the daemon
/// as before.
///
/// The kernel's rules this keeps: one backing file per FUSE inode while any passthrough open of it
/// lasts, no passthrough open while the inode has a cached open, and no open of an inode with a
/// backing file but a passthrough one — not even a direct-I/O one (each fails the open with EIO). So:
/// the first open of an inode decides; a later open of a different file under the same inode (the
/// image replaced behind the mount meanwhile) is refused with EBUSY until the earlier readers close,
/// rather than served the old file's bytes; a writer is refused with ETXTBSY (`mayWrite`). Owner: one
/// lock over the per-inode state; the ioctls run under it (each a few microseconds), so a decision
/// and its registration are one step.
final class Passthrough: Sendable {
    enum Mode { case passthrough, cached, busy }

    private struct FileID: Equatable { let device: UInt64; let inode: UInt64 }
    private struct Backing { let id: Int32; let file: FileID; var opens: Int }
    private enum Kind { case passthrough, cached, writer }
    private struct State {
        var backings: [UInt64: Backing] = [:]
        /// Opens of an inode the kernel counts against passthrough: cached reads, and writers (the
        /// kernel refuses any open but a passthrough one of an inode with a backing file).
        var cachedOpens: [UInt64: Int] = [:]
        var writers: [UInt64: Int] = [:]
        var handles: [UInt64: (ino: UInt64, kind: Kind)] = [:]
        var deviceFD: Int32 = -1
    }
    private let state = Mutex(State())
    let wanted: Bool

    init(wanted: Bool) { self.wanted = wanted }

    /// Routes the session's I/O through the shim; call after mounting, before the loop (INIT).
    func install(on session: OpaquePointer) {
        guard wanted else { return }
        let fd = fuse_session_fd(session)
        var io = fuse_custom_io(writev: storefs_passthrough_writev, read: storefs_passthrough_read,
                                splice_receive: nil, splice_send: storefs_passthrough_splice_send)
        if fuse_session_custom_io(session, &io, fd) == 0 { state.withLock { $0.deviceFD = fd } }
    }

    var negotiated: Bool { wanted && storefs_passthrough_enabled() != 0 }

    /// How handle `fh`, an open of inode `ino` reading local file `fd`, is to be opened; for
    /// `.passthrough` the reply of this open is marked (call right before replying).
    func open(fh: UInt64, ino: UInt64, fd: Int32) -> Mode {
        var st = stat()
        guard negotiated, fstat(fd, &st) == 0 else { return track(fh: fh, ino: ino) }
        let file = FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        return state.withLock { s in
            if s.cachedOpens[ino, default: 0] > 0 || s.writers[ino, default: 0] > 0 {
                s.cachedOpens[ino, default: 0] += 1
                s.handles[fh] = (ino, .cached)
                return .cached
            }
            if var backing = s.backings[ino] {
                guard backing.file == file, storefs_passthrough_offer(fh, backing.id) != 0 else { return .busy }
                backing.opens += 1
                s.backings[ino] = backing
                s.handles[fh] = (ino, .passthrough)
                return .passthrough
            }
            let id = storefs_passthrough_backing_open(s.deviceFD, fd)
            guard id > 0 else {
                s.cachedOpens[ino, default: 0] += 1
                s.handles[fh] = (ino, .cached)
                return .cached
            }
            guard storefs_passthrough_offer(fh, id) != 0 else {
                // No slot for the offer (hundreds of opens in flight): an ordinary cached open.
                _ = storefs_passthrough_backing_close(s.deviceFD, id)
                s.cachedOpens[ino, default: 0] += 1
                s.handles[fh] = (ino, .cached)
                return .cached
            }
            s.backings[ino] = Backing(id: id, file: file, opens: 1)
            s.handles[fh] = (ino, .passthrough)
            return .passthrough
        }
    }

    /// A cached open, counted so that no passthrough open of the inode is tried while it lasts.
    private func track(fh: UInt64, ino: UInt64) -> Mode {
        guard wanted else { return .cached }
        state.withLock { s in
            s.cachedOpens[ino, default: 0] += 1
            s.handles[fh] = (ino, .cached)
        }
        return .cached
    }

    /// Whether inode `ino` may be opened for writing now: not while a passthrough open of it lasts
    /// (the kernel would fail the writer's open with EIO; the caller answers ETXTBSY, as for a
    /// running program's file). Counted until `writerOpened` or `writerFailed`, so that no
    /// passthrough open starts meanwhile.
    func mayWrite(ino: UInt64) -> Bool {
        guard negotiated else { return true }
        return state.withLock { s in
            guard s.backings[ino] == nil else { return false }
            s.writers[ino, default: 0] += 1
            return true
        }
    }

    /// The writer's open of `ino` got handle `fh` (counted until its release).
    func writerOpened(fh: UInt64, ino: UInt64) {
        guard negotiated else { return }
        state.withLock { $0.handles[fh] = (ino, .writer) }
    }

    /// The writer's open of `ino` failed.
    func writerFailed(ino: UInt64) {
        guard negotiated else { return }
        state.withLock { s in Self.dropWriter(&s, ino: ino) }
    }

    private static func dropWriter(_ s: inout State, ino: UInt64) {
        let left = s.writers[ino, default: 1] - 1
        s.writers[ino] = left > 0 ? left : nil
    }

    func release(fh: UInt64) {
        guard wanted else { return }
        state.withLock { s in
            guard let (ino, kind) = s.handles.removeValue(forKey: fh) else { return }
            switch kind {
            case .passthrough:
                guard var backing = s.backings[ino] else { return }
                backing.opens -= 1
                if backing.opens == 0 {
                    // Open files keep their backing file; the id only lets new opens name it.
                    _ = storefs_passthrough_backing_close(s.deviceFD, backing.id)
                    s.backings[ino] = nil
                } else {
                    s.backings[ino] = backing
                }
            case .cached:
                let left = s.cachedOpens[ino, default: 1] - 1
                s.cachedOpens[ino] = left > 0 ? left : nil
            case .writer:
                Self.dropWriter(&s, ino: ino)
            }
        }
    }
}
