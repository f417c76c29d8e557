import Glibc

/// The largest read request the kernel may send (the `max_read` mount option), chosen so that the
/// reply of a local file's read can be spliced.
///
/// libfuse splices a reply only when a pipe holds it whole, with three pages of slack
/// (`fuse_send_data_iov`); otherwise it preads the data into memory and writes it to /dev/fuse: two
/// copies instead of one. A pipe grows to `/proc/sys/fs/pipe-max-size` (1 MiB by default) and no
/// further without CAP_SYS_RESOURCE, which a container's root usually lacks: a 1 MiB read never fit,
/// and every read of the file store took the copying path (perf: pread 12% and writev's copy 15% of
/// the CPU of four parallel `cat`). Writes keep 1 MiB (max_write); only reads are this size.
enum ReadSize {
    /// The negotiated maximum for both directions; reads are at most this too.
    static let ceiling = 1 << 20

    /// For a pipe of `pipeMax` bytes: whole pages that leave libfuse's slack (3 pages) and the reply
    /// header (16 bytes); `ceiling` when the pipe is large enough.
    static func maxRead(pipeMax: Int, pageSize: Int = Int(getpagesize())) -> Int {
        let fits = (pipeMax - 3 * pageSize - 16) / pageSize * pageSize
        return max(pageSize * 32, min(ceiling, fits))
    }

    /// The system's pipe limit, or the kernel's default when /proc does not say.
    static func pipeMaxSize() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/sys/fs/pipe-max-size", encoding: .utf8),
              let value = text.split(whereSeparator: \.isWhitespace).first.flatMap({ Int($0) }) else { return 1 << 20 }
        return value
    }

    /// The `max_read=` an operator gave among the `-o` options, if any (theirs is kept).
    static func given(in options: [String]) -> Int? {
        for option in options.flatMap({ $0.split(separator: ",") }) where option.hasPrefix("max_read=") {
            return Int(option.dropFirst("max_read=".count))
        }
        return nil
    }
}
