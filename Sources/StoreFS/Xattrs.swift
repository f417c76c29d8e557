import Glibc
import GlanceStore

/// Extended attributes: what /v2/info/stores says of a store, and where an image lives in Glance's
/// terms. Read-only; all under `user.` so `getfattr -d` shows them.
extension StoreFilesystem {
    static let unsupportedNamespaces = ["security.", "system.", "trusted."]

    /// The answer to a getxattr of a name outside `user.glance.` (nil inside it): known without
    /// looking at the file, so the FUSE layer gives it on its own thread. Namespaces this file system
    /// has nothing in are "not supported", which coreutils remembers per device, so `ls -l` stops
    /// asking every file for security.selinux and system.posix_acl_access (ENODATA made it ask each:
    /// two round trips per file, ls -l of 10,000 images 10.9x the datadir). Not ENOSYS: the kernel
    /// would then stop forwarding any getxattr, user.glance.* too.
    public static func xattrAnswer(forForeign name: String) -> Int32? {
        if name.hasPrefix("user.glance.") { return nil }
        return unsupportedNamespaces.contains(where: { name.hasPrefix($0) }) ? EOPNOTSUPP : ENODATA
    }

    public func listxattr(_ ino: UInt64) async throws(FSError) -> [String] {
        try await xattrs(ino).map(\.0)
    }

    public func getxattr(_ ino: UInt64, name: String) async throws(FSError) -> [UInt8] {
        if let errno = Self.xattrAnswer(forForeign: name) { throw FSError(errno) }
        if let value = try await xattrs(ino).first(where: { $0.0 == name })?.1 { return Array(value.utf8) }
        // Hashes nobody kept: computed now, from what the store holds.
        guard DigestCache.attributeNames.contains(name), case .image(let index, let imageName) = try node(ino) else {
            throw FSError(ENODATA)
        }
        if let session = handles.session(ino: ino), await !session.exists { throw FSError(ENODATA) }
        let digests = try await digests(of: imageName, in: index)
        guard let value = DigestCache.attributes(digests).first(where: { $0.0 == name })?.1 else { throw FSError(ENODATA) }
        return Array(value.utf8)
    }

    private func digests(of name: String, in index: Int) async throws(FSError) -> ImageDigests {
        let store = stores[index].store
        let info = try await storeCall(meters[index], "stat") { () async throws(StoreError) in try await store.stat(name) }
        let keep = isWritable(index) && store.capabilities.contains(.keepDigests)
        let logger = self.logger
        return try await storeCall(meters[index], "checksum") { () async throws(StoreError) in
            try await digestCache.digests(.init(store: index, name: name), info) { () async throws(StoreError) in
                logger.info("hashing an image on request", metadata: ["store": "\(store.id)", "image": "\(name)", "bytes": "\(info.size)"])
                let digests = try await store.computeDigests(of: name)
                if keep {
                    do throws(StoreError) { try await store.keepDigests(digests, of: name) } catch {
                        logger.warning("cannot keep the checksums with the image", metadata: ["store": "\(store.id)", "image": "\(name)", "error": "\(error)"])
                    }
                }
                return digests
            }
        }
    }

    public func setxattr(_ ino: UInt64) throws(FSError) -> Never {
        if case .image(let index, _)? = inodes.node(ino), isWritable(index) { throw FSError(ENOTSUP) }
        if case .store(let index)? = inodes.node(ino), isWritable(index) { throw FSError(ENOTSUP) }
        throw .readOnly
    }

    private func xattrs(_ ino: UInt64) async throws(FSError) -> [(String, String)] {
        switch try node(ino) {
        case .root:
            return []
        case .store(let index):
            let mounted = stores[index]
            var list = [("user.glance.store.type", mounted.store.type.rawValue)]
            if let description = mounted.description { list.append(("user.glance.store.description", description)) }
            list.append(("user.glance.store.read_only", isWritable(index) ? "false" : "true"))
            list.append(("user.glance.store.default", mounted.isDefault ? "true" : "false"))
            return list
        case .image(let index, let name):
            let store = stores[index].store
            if let session = handles.session(ino: ino), await !session.exists { return [("user.glance.store", store.id)] }
            let extra = try await storeCall(meters[index], "attributes") { () async throws(StoreError) in try await store.attributes(of: name) }
            var list = [("user.glance.store", store.id), ("user.glance.location", store.location(of: name))]
            for key in extra.keys.sorted() { list.append(("user.glance." + key, extra[key]!)) }
            let key = DigestCache.Key(store: index, name: name)
            if ImageDigests(attributes: extra) == nil, digestCache.hasEntry(key),
               let info = try? await store.stat(name), let digests = digestCache.known(key, info) {
                list += DigestCache.attributes(digests)
            }
            // What Glance records of the image (apart from what the store's bytes say, above).
            switch await catalogue?.lookup(name) {
            case .known(let image)?: list += image.attributes.map { ("user.glance.image." + $0.0, $0.1) }
            case .unknown?: list.append(("user.glance.image.status", "unknown"))
            case .unavailable?, nil: break
            }
            return list
        }
    }
}
