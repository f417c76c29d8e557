import GlanceStore
import Synchronization

/// Glance's checksum and os_hash_value of an image on demand: `getfattr -n user.glance.checksum`
/// of an image whose store kept none reads the image back and hashes it. The result is kept by the
/// store where it can keep it (rbd: image metadata) and the mount is writable, and in memory for
/// the image as it is (size and mtime). Not listed before it is known, so `getfattr -d`, `cp -a`
/// and `rsync -X` never read whole images; asked for, it is computed once however many ask at once.
final class DigestCache: Sendable {
    struct Key: Hashable {
        let store: Int
        let name: String
    }
    private struct Entry {
        let size: UInt64
        let modificationTime: Timestamp
        var computing: Task<ImageDigests, any Error>?
        var digests: ImageDigests?

        func describes(_ info: ImageInfo) -> Bool { size == info.size && modificationTime == info.modificationTime }
    }
    private let entries = Mutex<[Key: Entry]>([:])

    static let attributeNames: Set<String> = ["user.glance.checksum", "user.glance.os_hash_algo", "user.glance.os_hash_value"]

    static func attributes(_ digests: ImageDigests) -> [(String, String)] {
        [("user.glance.checksum", digests.checksum), ("user.glance.os_hash_algo", ImageDigests.algorithm),
         ("user.glance.os_hash_value", digests.multihash)]
    }

    /// The digests of the image as `info` describes it, computed with `compute` unless known or
    /// being computed already.
    func digests(_ key: Key, _ info: ImageInfo,
                 compute: @escaping @Sendable () async throws(StoreError) -> ImageDigests) async throws(StoreError) -> ImageDigests {
        let task = entries.withLock { entries -> Task<ImageDigests, any Error> in
            if let entry = entries[key], entry.describes(info) {
                if let digests = entry.digests { return Task { digests } }
                if let computing = entry.computing { return computing }
            }
            let task = Task { () async throws -> ImageDigests in try await compute() }
            entries[key] = Entry(size: info.size, modificationTime: info.modificationTime, computing: task)
            return task
        }
        let result = await task.result
        entries.withLock { entries in
            guard let entry = entries[key], entry.computing == task else { return }
            switch result {
            case .success(let digests): entries[key]?.digests = digests; entries[key]?.computing = nil
            case .failure: entries[key] = nil  // not kept: the next request tries again
            }
        }
        switch result {
        case .success(let digests): return digests
        case .failure(let error): throw (error as? StoreError) ?? .backend("hashing \(key.name): \(error)")
        }
    }

    /// Digests computed already for the image as `info` describes it.
    func known(_ key: Key, _ info: ImageInfo) -> ImageDigests? {
        entries.withLock { entries in
            guard let entry = entries[key], entry.describes(info) else { return nil }
            return entry.digests
        }
    }

    func hasEntry(_ key: Key) -> Bool { entries.withLock { $0[key] != nil } }
}
