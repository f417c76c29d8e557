import Foundation
import Glibc
import Logging
import CSystemShims

/// Where writes a store cannot take as a stream are kept until the file is closed: a `glance-storefs`
/// directory (mode 0700) in the datadir of `os_glance_staging_store`, which is what Glance uses that
/// store for. Staging files are unnamed (O_TMPFILE) or unlinked right after creation, so a crash
/// leaves nothing; a named leftover (only possible where O_TMPFILE is missing and the daemon died
/// between create and unlink) is removed at start and logged.
public final class StagingArea: Sendable {
    public let path: String
    private let fd: Int32

    public init(datadir: String, logger: Logger) throws(FSError) {
        path = datadir.hasSuffix("/") ? datadir + "glance-storefs" : datadir + "/glance-storefs"
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            logger.error("cannot create the staging directory", metadata: ["path": "\(path)", "error": "\(String(cString: strerror(errno)))"])
            throw FSError(errno)
        }
        chmod(path, 0o700)
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FSError(errno) }
        if let leftovers = try? FileManager.default.contentsOfDirectory(atPath: path), !leftovers.isEmpty {
            for name in leftovers { unlinkat(fd, name, 0) }
            logger.warning("removed staging leftovers of an interrupted run",
                           metadata: ["path": "\(path)", "files": "\(leftovers.count)"])
        }
    }

    deinit { close(fd) }

    /// A new, empty, anonymous read-write file.
    func makeFile() throws(FSError) -> Int32 {
        let file = storefs_open_tmpfile(fd, 0o600)
        if file >= 0 { return file }
        let name = "staging-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let named = openat(fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard named >= 0 else { throw FSError(errno) }
        unlinkat(fd, name, 0)
        return named
    }
}
