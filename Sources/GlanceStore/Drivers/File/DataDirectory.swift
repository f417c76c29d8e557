import Glibc
import GlanceConfig

/// One directory of a file store, held open so that every call is relative to the same directory
/// even if someone renames the path under us.
final class DataDirectory: Sendable {
    let path: String
    let priority: Int
    let fd: Int32

    init(path: String, priority: Int, fd: Int32) {
        self.path = path
        self.priority = priority
        self.fd = fd
    }

    deinit { close(fd) }

    /// `f_bavail * f_bsize`, what Glance compares an image's size with.
    func freeBytes() -> UInt64 {
        var s = statvfs()
        guard fstatvfs(fd, &s) == 0 else { return 0 }
        return UInt64(s.f_bavail) * UInt64(s.f_bsize)
    }

    /// Glance's `os.path.join(datadir, image_id)`: no doubled "/" after a datadir ending in "/".
    func join(_ name: String) -> String { path.hasSuffix("/") ? path + name : path + "/" + name }
}

extension FileStore {
    /// Glance's `_find_best_datadir`: from the highest priority down, the directory with the most
    /// free space that can hold `size` (for an unknown size: more than 0 bytes free); the first
    /// priority with a candidate wins.
    static func bestDirectory(_ directories: [DataDirectory], for size: UInt64?) -> DataDirectory? {
        let needed = size ?? 0
        for priority in Set(directories.map(\.priority)).sorted(by: >) {
            let candidates = directories.filter { $0.priority == priority }
                .map { (dir: $0, free: $0.freeBytes()) }
                .filter { needed == 0 ? $0.free > 0 : $0.free >= needed }
            if let best = candidates.max(by: { $0.free < $1.free }) { return best.dir }
        }
        return nil
    }
}
