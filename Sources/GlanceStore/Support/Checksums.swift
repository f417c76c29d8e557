import Foundation
import CLibCrypto
import Dispatch

/// Glance's two hashes of an image's bytes: the md5 `checksum` and the `os_hash_value` of
/// `hashing_algorithm` (sha512 by default), both lowercase hex. OpenSSL does the work.
final class ImageChecksums {
    private let md5: OpaquePointer
    private let multihash: OpaquePointer

    /// With sha512 (Glance's default `hashing_algorithm`), or another digest of `algorithm`'s name
    /// (any hashlib and OpenSSL share: sha256, sha384, sha3_512...); nil when OpenSSL has no such digest.
    init?(algorithm: String = ImageDigests.algorithm) {
        let name = algorithm.lowercased().replacingOccurrences(of: "_", with: "-")
        guard let digest = EVP_get_digestbyname(name) ?? EVP_get_digestbyname(algorithm) else { return nil }
        md5 = EVP_MD_CTX_new()
        multihash = EVP_MD_CTX_new()
        EVP_DigestInit_ex(md5, EVP_md5(), nil)
        EVP_DigestInit_ex(multihash, digest, nil)
    }

    deinit {
        EVP_MD_CTX_free(md5)
        EVP_MD_CTX_free(multihash)
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        updateChecksum(bytes)
        updateMultihash(bytes)
    }

    /// The two digests are independent: callers may run these two on different threads at once.
    func updateChecksum(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(md5, base, bytes.count)
    }

    func updateMultihash(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(multihash, base, bytes.count)
    }

    /// (md5 hex, sha512 hex). Call once.
    func finish() -> (checksum: String, multihash: String) {
        (Self.final(md5), Self.final(multihash))
    }

    private static func final(_ context: OpaquePointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(Int(length) * 2)
        for byte in digest.prefix(Int(length)) {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}


/// Glance's two hashes of a stream of chunks computed in the background: md5 on one serial queue,
/// sha512 on another, so they run beside each other and beside the writes. Chunks must be given
/// in order; `finish()` waits for every one.
final class ChecksumPipeline: @unchecked Sendable {
    // Each digest is touched only from its own queue, and finish() only after both drained.
    private let checksums: ImageChecksums
    private let md5Queue = DispatchQueue(label: "glance-storefs.md5")
    private let multihashQueue = DispatchQueue(label: "glance-storefs.sha512")

    init(checksums: ImageChecksums = ImageChecksums()!) { self.checksums = checksums }

    /// Queues a chunk; `group` is left once both digests include it.
    func enqueue(_ chunk: [UInt8], group: DispatchGroup) {
        md5Queue.async(group: group) { chunk.withUnsafeBytes { self.checksums.updateChecksum($0) } }
        multihashQueue.async(group: group) { chunk.withUnsafeBytes { self.checksums.updateMultihash($0) } }
    }

    func finish() async -> (checksum: String, multihash: String) {
        await withCheckedContinuation { continuation in
            md5Queue.async {
                self.multihashQueue.async { continuation.resume(returning: self.checksums.finish()) }
            }
        }
    }
}

extension DispatchGroup {
    /// Waits without blocking a thread.
    func completion() async {
        await withCheckedContinuation { continuation in notify(queue: .global()) { continuation.resume() } }
    }
}
