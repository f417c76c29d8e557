import Foundation
import Glibc

/// A modification time to the nanosecond, as file systems keep it. `Date` (a Double since 2001)
/// loses the last digits, and `rsync -a` compares nanoseconds.
public struct Timestamp: Sendable, Hashable, Comparable {
    public var seconds: Int64
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public init(_ date: Date) {
        let value = date.timeIntervalSince1970
        let whole = value.rounded(.down)
        self.init(seconds: Int64(whole), nanoseconds: Int32(min(999_999_999, ((value - whole) * 1e9).rounded())))
    }

    public init(_ spec: Glibc.timespec) { self.init(seconds: Int64(spec.tv_sec), nanoseconds: Int32(spec.tv_nsec)) }

    public static var now: Timestamp {
        var spec = Glibc.timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(spec)
    }

    public var timespec: Glibc.timespec { Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds)) }
    public var date: Date { Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9) }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds) }
}
