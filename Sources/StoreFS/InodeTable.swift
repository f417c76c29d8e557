import Synchronization

/// What an inode number stands for. Numbers are never reused during a mount: an image keeps its
/// number while it exists (also across a rename), so `ls -i`, rsync and the kernel's caches agree.
public enum Node: Sendable, Equatable {
    case root
    case store(Int)
    case image(store: Int, name: String)
}

/// Inode numbers: 1 is the root, 2... the stores in config order, then images as they are met.
/// Entries are kept for the whole mount (an entry is a few dozen bytes; `forget` needs no bookkeeping).
final class InodeTable: Sendable {
    static let root: UInt64 = 1
    private let storeCount: Int
    private let state: Mutex<State>

    private struct State {
        var next: UInt64
        var byIno: [UInt64: (store: Int, name: String)] = [:]
        var byName: [[String: UInt64]]
    }

    init(storeCount: Int) {
        self.storeCount = storeCount
        state = Mutex(State(next: UInt64(storeCount) + 2, byName: Array(repeating: [:], count: storeCount)))
    }

    func storeIno(_ index: Int) -> UInt64 { UInt64(index) + 2 }

    func node(_ ino: UInt64) -> Node? {
        if ino == Self.root { return .root }
        if ino >= 2 && ino < UInt64(storeCount) + 2 { return .store(Int(ino - 2)) }
        return state.withLock { s in s.byIno[ino].map { .image(store: $0.store, name: $0.name) } }
    }

    /// The number of an image, allocated on first sight.
    func ino(store: Int, name: String) -> UInt64 {
        state.withLock { s in
            if let ino = s.byName[store][name] { return ino }
            let ino = s.next
            s.next += 1
            s.byName[store][name] = ino
            s.byIno[ino] = (store, name)
            return ino
        }
    }

    func existingIno(store: Int, name: String) -> UInt64? {
        state.withLock { s in s.byName[store][name] }
    }

    /// The image left the store: its number goes stale (never handed out again).
    func remove(store: Int, name: String) {
        state.withLock { s in
            if let ino = s.byName[store].removeValue(forKey: name) { s.byIno[ino] = nil }
        }
    }

    /// The image's number follows it to its new name; a replaced image's number goes stale.
    /// Returns the stale number, if any.
    @discardableResult
    func rename(store: Int, from old: String, to new: String) -> UInt64? {
        state.withLock { s in
            let replaced = s.byName[store].removeValue(forKey: new)
            if let replaced { s.byIno[replaced] = nil }
            if let ino = s.byName[store].removeValue(forKey: old) {
                s.byName[store][new] = ino
                s.byIno[ino] = (store, new)
            }
            return replaced
        }
    }
}
