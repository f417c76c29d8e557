import Synchronization
import GlanceStore

/// What an open file handle (the `fh` of a FUSE request) refers to.
enum Handle: Sendable {
    case reader(any ImageReader, store: Int)
    case writer(WriteSession, ino: UInt64)
    case directory([DirectoryEntry])
}

/// Open handles, and the write session of each image open for writing (shared by every handle on it).
/// A session awaiting a name (rsync's temporary file) is kept after its last close, "parked", in the
/// same critical section that removes its last handle: rsync's utimens and rename right after the
/// close must find it, and the kernel sends the release without waiting for it.
final class HandleTable: Sendable {
    private struct State {
        var next: UInt64 = 1
        var handles: [UInt64: Handle] = [:]
        var sessions: [UInt64: (session: WriteSession, handles: Int)] = [:]
        /// By inode: the session and the number of its parking (a later timer knows it is stale).
        var parked: [UInt64: (session: WriteSession, parking: UInt64)] = [:]
        var parkings: UInt64 = 0
    }
    private let state = Mutex(State())

    func add(_ handle: Handle) -> UInt64 {
        state.withLock { s in
            let fh = s.next
            s.next += 1
            s.handles[fh] = handle
            if case .writer(let session, let ino) = handle {
                s.parked[ino] = nil  // opened again
                s.sessions[ino, default: (session, 0)].handles += 1
            }
            return fh
        }
    }

    subscript(fh: UInt64) -> Handle? { state.withLock { $0.handles[fh] } }

    /// What removing a handle left: a writer's last handle ends its session, or parks it.
    enum Removal {
        case other
        case lastOfSession
        /// The session awaits a name: kept, with this parking's number.
        case parked(UInt64)
    }

    /// Removes the handle; for a writer, says whether it was the last one on its session.
    func remove(_ fh: UInt64) -> (handle: Handle, removal: Removal)? {
        state.withLock { s in
            guard let handle = s.handles.removeValue(forKey: fh) else { return nil }
            guard case .writer(let session, let ino) = handle, let entry = s.sessions[ino] else { return (handle, .other) }
            if entry.handles <= 1 {
                s.sessions[ino] = nil
                guard session.awaitsName else { return (handle, .lastOfSession) }
                s.parkings += 1
                s.parked[ino] = (session, s.parkings)
                return (handle, .parked(s.parkings))
            }
            s.sessions[ino]!.handles -= 1
            return (handle, .other)
        }
    }

    func session(ino: UInt64) -> WriteSession? {
        state.withLock { $0.sessions[ino]?.session ?? $0.parked[ino]?.session }
    }

    /// Takes a parked session out (a rename names it, an unlink drops it); with `parking`, only
    /// if it is still that parking (the timer of an earlier one does nothing).
    func unpark(ino: UInt64, parking: UInt64? = nil) -> WriteSession? {
        state.withLock { s in
            guard let entry = s.parked[ino], parking == nil || entry.parking == parking else { return nil }
            s.parked[ino] = nil
            return entry.session
        }
    }

    /// Puts back a session whose rename failed: it is still rsync's, or the timer's.
    func repark(_ session: WriteSession, ino: UInt64) -> UInt64 {
        state.withLock { s in
            s.parkings += 1
            s.parked[ino] = (session, s.parkings)
            return s.parkings
        }
    }

    /// Every handle, removed (the mount is going away): readers, and each write session once
    /// (parked ones are complete: their writers closed them).
    func removeAll() -> (readers: [any ImageReader], sessions: [WriteSession], parked: [WriteSession]) {
        state.withLock { s in
            let readers = s.handles.values.compactMap { handle -> (any ImageReader)? in
                if case .reader(let reader, _) = handle { return reader }
                return nil
            }
            let sessions = s.sessions.values.map(\.session)
            let parked = s.parked.values.map(\.session)
            s.handles.removeAll()
            s.sessions.removeAll()
            s.parked.removeAll()
            return (readers, sessions, parked)
        }
    }

    /// The session writing `name` in a store (an image not yet visible), if any.
    func session(store: Int, name: String) -> WriteSession? {
        state.withLock { s in
            s.sessions.values.first { $0.session.storeIndex == store && $0.session.name == name }?.session
                ?? s.parked.values.first { $0.session.storeIndex == store && $0.session.name == name }?.session
        }
    }
}
