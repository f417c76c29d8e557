import Foundation
import Glibc
import GlanceConfig
import Logging
import CSystemShims

/// Glance's file store (`gs/_drivers/filesystem.py`): each image is a flat file named by its id in
/// one of the datadirs. Writes go to an unnamed file (O_TMPFILE) that is linked under its name only
/// when complete, so a crash or an abort never leaves a partial image behind a real name.
public final class FileStore: Store {
    public let id: String
    public let type = StoreType.file
    public let capabilities: Capabilities
    public let settings: FileStoreSettings
    /// Highest priority first (config order within a priority): an id found in two datadirs is the
    /// one of the higher priority, and every lookup walks them in this order.
    let directories: [DataDirectory]
    let logger: Logger

    /// Files of ours that carry a partial image where O_TMPFILE is not available.
    static let partialPrefix = ".glance-storefs-partial-"
    /// xattrs on image files written by us: what Glance keeps in its database, kept with the data.
    static let checksumAttribute = "user.glance.checksum"
    static let hashAlgoAttribute = "user.glance.os_hash_algo"
    static let hashValueAttribute = "user.glance.os_hash_value"
    /// The file's size and mtime when it was hashed: the three above describe the bytes only while
    /// this still matches (a file rewritten in the datadir keeps its xattrs). Files hashed while
    /// being written, by earlier versions, have none and are trusted as they are.
    static let hashedAttribute = "user.glance.storefs_hashed"

    /// Opens (and creates, as Glance does) the datadirs. A datadir that cannot be created or written
    /// leaves the store read-only, as Glance disables `add` then; a missing one that cannot be read
    /// is an error.
    public init(definition: StoreDefinition, logger: Logger) throws(StoreError) {
        guard let settings = definition.file else {
            throw .badStoreConfiguration(store: definition.id, reason: "not a file store")
        }
        self.id = definition.id
        self.settings = settings
        self.logger = logger
        var writable = true
        var opened: [DataDirectory] = []
        for dir in settings.directories {
            if access(dir.path, F_OK) != 0 {
                do {
                    try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
                    logger.info("created datadir", metadata: ["store": "\(definition.id)", "path": "\(dir.path)"])
                } catch {
                    throw .badStoreConfiguration(store: definition.id, reason: "unable to create datadir \(dir.path)")
                }
            }
            let fd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else {
                throw .badStoreConfiguration(store: definition.id, reason: "cannot open datadir \(dir.path): \(String(cString: strerror(errno)))")
            }
            if access(dir.path, W_OK) != 0 {
                logger.warning("datadir is not writable; the store is read-only",
                               metadata: ["store": "\(definition.id)", "path": "\(dir.path)"])
                writable = false
            }
            // Glance adds g+x / o+x to the datadir when file_perm grants group / other access.
            if let perm = settings.filePermissions, writable {
                var st = Glibc.stat()
                if fstat(fd, &st) == 0 {
                    var mode = st.st_mode & 0o7777
                    if perm & 0o070 != 0 { mode |= 0o010 }
                    if perm & 0o007 != 0 { mode |= 0o001 }
                    if mode != st.st_mode & 0o7777 { fchmod(fd, mode) }
                }
            }
            opened.append(DataDirectory(path: dir.path, priority: dir.priority, fd: fd))
        }
        self.directories = opened.sorted { $0.priority > $1.priority }
        var caps: Capabilities = [.readRandom, .driverReusable, .capacity]
        if writable { caps.formUnion([.writeAccess, .rename, .setModificationTime, .keepDigests]) }
        self.capabilities = caps
        if writable, definition.housekeeping { reportLeftovers() }
    }

    // MARK: Listing

    public func list() async throws(StoreError) -> [ImageInfo] {
        let directories = self.directories, id = self.id, logger = self.logger
        return try await BlockingIO.run { () throws(StoreError) -> [ImageInfo] in
            var seen = Set<String>()
            var images: [ImageInfo] = []
            for dir in directories {
                let found = try Self.scan(dir) { bytes in
                    LeftOutNames.report(store: id, name: LeftOutNames.printable(bytes: bytes), reason: "not UTF-8", logger: logger)
                }
                for info in found where seen.insert(info.name).inserted {
                    images.append(info)
                }
            }
            return images
        }
    }

    /// Regular files only; our partial files and anything else are not images. A name that is not
    /// UTF-8 cannot be told to the kernel as the same bytes: `notUTF8` hears of it.
    static func scan(_ dir: DataDirectory, notUTF8: ([UInt8]) -> Void = { _ in }) throws(StoreError) -> [ImageInfo] {
        let dupfd = dup(dir.fd)
        guard dupfd >= 0, let stream = fdopendir(dupfd) else { throw posixError("opendir \(dir.path)") }
        defer { closedir(stream) }
        rewinddir(stream)
        var images: [ImageInfo] = []
        while let entry = readdir(stream) {
            let type = entry.pointee.d_type
            guard type == DT_REG || type == DT_UNKNOWN else { continue }
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            guard let name = String(validating: bytes, as: UTF8.self) else {
                notUTF8(bytes)
                continue
            }
            if name.hasPrefix(partialPrefix) { continue }
            var st = Glibc.stat()
            guard fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            images.append(ImageInfo(name: name, size: UInt64(st.st_size), modificationTime: Timestamp(st.st_mtim)))
        }
        return images
    }

    /// The directory holding `name` and its stat, in priority order.
    func find(_ name: String) throws(StoreError) -> (DataDirectory, Glibc.stat) {
        try ImageName.validate(name)
        if name.hasPrefix(Self.partialPrefix) { throw .notFound(image: name) }
        for dir in directories {
            var st = Glibc.stat()
            if fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                guard st.st_mode & S_IFMT == S_IFREG else { throw .notFound(image: name) }
                return (dir, st)
            }
            if errno != ENOENT { throw posixError("stat \(dir.join(name))") }
        }
        throw .notFound(image: name)
    }

    public func stat(_ name: String) async throws(StoreError) -> ImageInfo {
        try await BlockingIO.run { () throws(StoreError) -> ImageInfo in
            let (_, st) = try self.find(name)
            return ImageInfo(name: name, size: UInt64(st.st_size), modificationTime: Timestamp(st.st_mtim))
        }
    }

    // MARK: Reading

    public func openForReading(_ name: String) async throws(StoreError) -> any ImageReader {
        try await BlockingIO.run { () throws(StoreError) -> FileImageReader in
            let (dir, _) = try self.find(name)
            let fd = openat(dir.fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else {
                throw errno == ENOENT ? .notFound(image: name) : posixError("open \(dir.join(name))")
            }
            var st = Glibc.stat()
            fstat(fd, &st)
            return FileImageReader(fd: fd, size: UInt64(st.st_size), path: dir.join(name))
        }
    }

    // MARK: Writing

    public func beginWrite(_ name: String, sizeHint: UInt64?) async throws(StoreError) -> any ImageWriter {
        guard isWritable else { throw .storeAddDisabled(store: id) }
        try ImageName.validate(name)
        if name.hasPrefix(Self.partialPrefix) { throw .invalidImageName(name) }
        return try await BlockingIO.run { () throws(StoreError) -> FileImageWriter in
            // Glance checks only the chosen datadir; an id in two datadirs would be ambiguous, so all.
            if (try? self.find(name)) != nil { throw .duplicate(image: name) }
            guard let dir = Self.bestDirectory(self.directories, for: sizeHint) else {
                throw .storageFull("no datadir has room for it. requested=\(sizeHint ?? 0)")
            }
            return try FileImageWriter(store: self, directory: dir, name: name)
        }
    }

    /// Location metadata of a new image: the metadata-file entry whose mountpoint is a prefix of the
    /// path, plus `store` (Glance's `_get_metadata`).
    func locationMetadata(path: String) -> [String: String] {
        var metadata: [String: String] = [:]
        if !settings.metadata.isEmpty {
            if let entry = settings.metadata.first(where: { path.hasPrefix($0["mountpoint"] ?? "\u{0}") }) {
                metadata = entry
            } else {
                logger.error("no metadata-file entry matches the image path",
                             metadata: ["store": "\(id)", "path": "\(path)"])
            }
        }
        metadata["store"] = id
        return metadata
    }

    // MARK: Changing

    public func rename(_ name: String, to newName: String, replacing: Bool) async throws(StoreError) {
        try ImageName.validate(newName)
        if newName.hasPrefix(Self.partialPrefix) { throw .invalidImageName(newName) }
        try await BlockingIO.run { () throws(StoreError) in
            let (dir, _) = try self.find(name)
            if let (other, _) = try? self.find(newName) {
                guard replacing else { throw .duplicate(image: newName) }
                // The image keeps its datadir; a same-named image in another would shadow it.
                if other !== dir, unlinkat(other.fd, newName, 0) != 0, errno != ENOENT {
                    throw posixError("unlink \(other.join(newName))")
                }
            }
            let result = replacing ? renameat(dir.fd, name, dir.fd, newName)
                                   : storefs_rename_noreplace(dir.fd, name, dir.fd, newName)
            if result != 0 {
                if errno == EEXIST { throw .duplicate(image: newName) }
                if errno == ENOENT { throw .notFound(image: name) }
                throw posixError("rename \(dir.join(name))")
            }
        }
    }

    public func delete(_ name: String) async throws(StoreError) {
        guard isWritable else { throw .storeDeleteNotSupported(store: id) }
        try await BlockingIO.run { () throws(StoreError) in
            let (dir, _) = try self.find(name)
            if unlinkat(dir.fd, name, 0) != 0 {
                if errno == ENOENT { throw .notFound(image: name) }
                throw .forbidden("You cannot delete file \(dir.join(name)): \(String(cString: strerror(errno)))")
            }
        }
    }

    public func setModificationTime(_ name: String, to time: Timestamp) async throws(StoreError) {
        guard isWritable else { throw .storeAddDisabled(store: id) }
        try await BlockingIO.run { () throws(StoreError) in
            let (dir, _) = try self.find(name)
            var times = [timespec(tv_sec: 0, tv_nsec: storefs_utime_omit), time.timespec]
            if utimensat(dir.fd, name, &times, AT_SYMLINK_NOFOLLOW) != 0 { throw posixError("utimensat \(dir.join(name))") }
        }
    }

    public func capacity() async throws(StoreError) -> StoreCapacity {
        // Directories on one file system count once.
        var seen = Set<UInt>()
        var total: UInt64 = 0, available: UInt64 = 0
        for dir in directories {
            var s = statvfs()
            guard fstatvfs(dir.fd, &s) == 0 else { throw posixError("statvfs \(dir.path)") }
            guard seen.insert(s.f_fsid).inserted else { continue }
            total += UInt64(s.f_blocks) * UInt64(s.f_frsize)
            available += UInt64(s.f_bavail) * UInt64(s.f_frsize)
        }
        return StoreCapacity(totalBytes: total, availableBytes: available)
    }

    public func location(of name: String) -> String {
        let dir = (try? find(name))?.0 ?? directories[0]
        return "file://" + dir.join(name)
    }

    public func attributes(of name: String) async throws(StoreError) -> [String: String] {
        try await BlockingIO.run { () throws(StoreError) -> [String: String] in try self.readAttributes(of: name) }
    }

    private func readAttributes(of name: String) throws(StoreError) -> [String: String] {
        let (dir, _) = try find(name)
        let fd = openat(dir.fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw posixError("open \(dir.join(name))") }
        defer { close(fd) }
        var attributes: [String: String] = [:]
        if Self.xattr(fd, Self.hashedAttribute).map({ $0 == Self.contentStamp(fd) }) ?? true {
            for key in [Self.checksumAttribute, Self.hashAlgoAttribute, Self.hashValueAttribute] {
                if let value = Self.xattr(fd, key) { attributes[String(key.dropFirst("user.glance.".count))] = value }
            }
        }
        for (key, value) in locationMetadata(path: dir.join(name)) where key != "store" {
            attributes["location_metadata.\(key)"] = value
        }
        return attributes
    }

    private static func xattr(_ fd: Int32, _ key: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = fgetxattr(fd, key, &buffer, buffer.count)
        return n > 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : nil
    }

    /// What the file's bytes were when hashed: its size and mtime (setting xattrs moves ctime).
    private static func contentStamp(_ fd: Int32) -> String? {
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return "\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// Keeps hashes computed on request with the file, as xattrs (what earlier versions wrote while
    /// writing), so the next mount knows them. A file system without user xattrs keeps nothing.
    public func keepDigests(_ digests: ImageDigests, of name: String) async throws(StoreError) {
        guard isWritable else { throw .storeAddDisabled(store: id) }
        try await BlockingIO.run { () throws(StoreError) in
            let (dir, _) = try self.find(name)
            let fd = openat(dir.fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { throw posixError("open \(dir.join(name))") }
            defer { close(fd) }
            guard let stamp = Self.contentStamp(fd) else { throw posixError("fstat \(dir.join(name))") }
            for (key, value) in [(Self.checksumAttribute, digests.checksum), (Self.hashAlgoAttribute, ImageDigests.algorithm),
                                 (Self.hashValueAttribute, digests.multihash), (Self.hashedAttribute, stamp)] {
                if fsetxattr(fd, key, value, value.utf8.count, 0) != 0 { throw posixError("setting \(key) on \(dir.join(name))") }
            }
        }
    }

    /// Partial files (named only where O_TMPFILE is missing) of all the store's directories.
    public func leftovers() async throws(StoreError) -> [StoreLeftover] {
        let directories = self.directories
        return try await BlockingIO.run { () throws(StoreError) -> [StoreLeftover] in
            var found: [StoreLeftover] = []
            for dir in directories {
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { continue }
                for name in names.sorted() where name.hasPrefix(Self.partialPrefix) {
                    var st = Glibc.stat()
                    guard fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                    found.append(StoreLeftover(name: dir.join(name), image: nil, size: UInt64(st.st_size),
                                               modified: Timestamp(st.st_mtim), kind: "partial write of glance-storefs"))
                }
            }
            return found
        }
    }

    /// Named partial files exist only where O_TMPFILE is missing; one left by a crash holds no image
    /// anyone can see, so it is removed and reported.
    private func reportLeftovers() {
        for dir in directories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { continue }
            for name in names where name.hasPrefix(Self.partialPrefix) {
                if unlinkat(dir.fd, name, 0) == 0 {
                    logger.warning("removed the partial image of an interrupted write",
                                   metadata: ["store": "\(id)", "path": "\(dir.join(name))"])
                }
            }
        }
    }
}

extension timespec {
    var date: Date { Date(timeIntervalSince1970: Double(tv_sec) + Double(tv_nsec) / 1e9) }
}
