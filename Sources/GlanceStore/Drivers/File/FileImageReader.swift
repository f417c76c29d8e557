import Glibc

/// An open image file; reads at any offset (READ_RANDOM) with pread on the blocking-I/O queue.
final class FileImageReader: FileBackedImageReader {
    let fd: Int32
    let size: UInt64
    let path: String
    var fileDescriptor: Int32 { fd }

    init(fd: Int32, size: UInt64, path: String) {
        self.fd = fd
        self.size = size
        self.path = path
    }

    deinit { Glibc.close(fd) }

    func read(at offset: UInt64, count: Int) async throws(StoreError) -> [UInt8] {
        guard count > 0, offset < size else { return [] }
        let fd = self.fd, path = self.path
        let wanted = Int(min(UInt64(count), size - offset))
        return try await BlockingIO.run { () throws(StoreError) -> [UInt8] in
            var failure: StoreError?
            let bytes = [UInt8](unsafeUninitializedCapacity: wanted) { buffer, initialized in
                var done = 0
                while done < wanted {
                    let n = retryingEINTR { pread(fd, buffer.baseAddress! + done, wanted - done, off_t(offset) + off_t(done)) }
                    if n < 0 { failure = posixError("read \(path)"); break }
                    if n == 0 { break }  // the file shrank under us: return what there is
                    done += n
                }
                initialized = done
            }
            if let failure { throw failure }
            return bytes
        }
    }

    /// The descriptor closes when the last reference goes (a read may still be in flight).
    func close() async {}
}
