/// Reads an object (plain, DLO or SLO: the proxy assembles manifests, ranges included) with Range
/// GETs in aligned chunks; ReadAhead fetches ahead in parallel for sequential readers within its
/// memory budget. The chunks stay the network's buffers down to the FUSE reply.
final class SwiftImageReader: BufferedImageReader {
    let size: UInt64
    private let chunks: ReadAhead

    static let chunkSize: UInt64 = 8 << 20
    static let readAhead: UInt64 = 4

    init(account: SwiftAccount, container: String, object: String, size: UInt64, meters: StoreMeters) {
        self.size = size
        let path = SwiftAccount.objectPath(container, object)
        chunks = ReadAhead(size: size, chunkSize: Self.chunkSize, depth: Self.readAhead, describe: "\(container)/\(object)", meters: meters) { start, length, _ in
            Task {
                let end = start + UInt64(length) - 1
                let reply = try await account.request(.GET, path, range: start...end, maxBody: length)
                switch reply.status {
                case 206, 200 where start == 0: return reply.data
                case 404: throw StoreError.notFound(image: object)
                case 416: return ImageBytes()  // shrank meanwhile: nothing there any more
                default: throw StoreError.remoteServiceUnavailable("GET \(container)/\(object) bytes \(start)-\(end): HTTP \(reply.status)")
                }
            }
        }
    }

    func readBuffers(at offset: UInt64, count: Int) async throws(StoreError) -> ImageBytes {
        try await chunks.read(at: offset, count: count)
    }

    func close() async { chunks.close() }
}
