import Dispatch

/// Glance's hashes of an image: the md5 `checksum` and the sha512 `os_hash_value`
/// (`hashing_algorithm`'s default), lowercase hex.
public struct ImageDigests: Sendable, Equatable {
    public let checksum: String
    public let multihash: String
    public static let algorithm = "sha512"

    public init(checksum: String, multihash: String) {
        self.checksum = checksum
        self.multihash = multihash
    }

    /// The digests a store keeps, from its `attributes(of:)`, when both are there.
    public init?(attributes: [String: String]) {
        guard let checksum = attributes["checksum"], let multihash = attributes["os_hash_value"] else { return nil }
        self.init(checksum: checksum, multihash: multihash)
    }
}

extension Store {
    /// Glance's hashes of what the store holds under `name`, from every byte read back through the
    /// store's own reader (its read-ahead keeps the store busy while md5 and sha512 run on a core
    /// each). This is what `user.glance.checksum` shows where nothing was kept at write time.
    public func computeDigests(of name: String) async throws(StoreError) -> ImageDigests {
        try await computeDigests(of: name, algorithm: ImageDigests.algorithm)
    }

    /// The md5 and the hash of `algorithm` (Glance's `os_hash_algo`); `progress` hears of every piece
    /// read (its byte count), for an audit's progress line.
    public func computeDigests(of name: String, algorithm: String,
                               progress: @Sendable (Int) -> Void = { _ in }) async throws(StoreError) -> ImageDigests {
        guard let checksums = ImageChecksums(algorithm: algorithm) else {
            throw .operationNotSupported("hashing with \(algorithm)")
        }
        let reader = try await openForReading(name)
        let pipeline = ChecksumPipeline(checksums: checksums)
        var hashing: [DispatchGroup] = []
        var offset: UInt64 = 0
        do throws(StoreError) {
            while offset < reader.size {
                let bytes = try await reader.read(at: offset, count: Self.digestPiece)
                guard !bytes.isEmpty else { break }
                offset += UInt64(bytes.count)
                progress(bytes.count)
                let group = DispatchGroup()
                pipeline.enqueue(bytes, group: group)
                hashing.append(group)
                // Bounded: at most this many pieces wait for the hashes.
                if hashing.count > 4 { await hashing.removeFirst().completion() }
            }
        } catch {
            await reader.close()
            throw error
        }
        await reader.close()
        guard offset == reader.size else { throw .backend("\(name) ended at \(offset) of \(reader.size) bytes while hashing") }
        let digests = await pipeline.finish()
        return ImageDigests(checksum: digests.checksum, multihash: digests.multihash)
    }

    private static var digestPiece: Int { 8 << 20 }
}
