import Glibc
import GlanceStore

/// Extended attributes: what /v2/info/stores says of a store, and where an image lives in Glance's
/// terms. Read-only; all under `user.` so `getfattr -d` shows them.
extension StoreFilesystem {
    public func listxattr(_ ino: UInt64) async throws(FSError) -> [String] {
        try await xattrs(ino).map(\.0)
    }

    public func getxattr(_ ino: UInt64, name: String) async throws(FSError) -> [UInt8] {
        // Only our namespace: ls asks for security.* and system.posix_acl_* of every file.
        guard name.hasPrefix("user.glance.") else { throw FSError(ENODATA) }
        guard let value = try await xattrs(ino).first(where: { $0.0 == name })?.1 else { throw FSError(ENODATA) }
        return Array(value.utf8)
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
            let extra = try await storeCall { () async throws(StoreError) in try await store.attributes(of: name) }
            var list = [("user.glance.store", store.id), ("user.glance.location", store.location(of: name))]
            for key in extra.keys.sorted() { list.append(("user.glance." + key, extra[key]!)) }
            return list
        }
    }
}
