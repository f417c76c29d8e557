import Synchronization
import GlanceStore

/// What an open file handle (the `fh` of a FUSE request) refers to.
enum Handle: Sendable {
    case reader(any ImageReader, store: Int)
    case writer(WriteSession, ino: UInt64)
    case directory([DirectoryEntry])
}

/// Open handles, and the write session of each image open for writing (shared by every handle on it).
final class HandleTable: Sendable {
    private struct State {
        var next: UInt64 = 1
        var handles: [UInt64: Handle] = [:]
        var sessions: [UInt64: (session: WriteSession, handles: Int)] = [:]
    }
    private let state = Mutex(State())

    func add(_ handle: Handle) -> UInt64 {
        state.withLock { s in
            let fh = s.next
            s.next += 1
            s.handles[fh] = handle
            if case .writer(let session, let ino) = handle {
                s.sessions[ino, default: (session, 0)].handles += 1
            }
            return fh
        }
    }

    subscript(fh: UInt64) -> Handle? { state.withLock { $0.handles[fh] } }

    /// Removes the handle; for a writer, says whether it was the last one on its session.
    func remove(_ fh: UInt64) -> (handle: Handle, lastOfSession: Bool)? {
        state.withLock { s in
            guard let handle = s.handles.removeValue(forKey: fh) else { return nil }
            guard case .writer(_, let ino) = handle, let entry = s.sessions[ino] else { return (handle, false) }
            if entry.handles <= 1 {
                s.sessions[ino] = nil
                return (handle, true)
            }
            s.sessions[ino]!.handles -= 1
            return (handle, false)
        }
    }

    func session(ino: UInt64) -> WriteSession? { state.withLock { $0.sessions[ino]?.session } }

    /// Every handle, removed (the mount is going away): readers, and each write session once.
    func removeAll() -> (readers: [any ImageReader], sessions: [WriteSession]) {
        state.withLock { s in
            let readers = s.handles.values.compactMap { handle -> (any ImageReader)? in
                if case .reader(let reader, _) = handle { return reader }
                return nil
            }
            let sessions = s.sessions.values.map(\.session)
            s.handles.removeAll()
            s.sessions.removeAll()
            return (readers, sessions)
        }
    }

    /// The session writing `name` in a store (an image not yet visible), if any.
    func session(store: Int, name: String) -> WriteSession? {
        state.withLock { s in s.sessions.values.first { $0.session.storeIndex == store && $0.session.name == name }?.session }
    }
}
