import Foundation
import Synchronization

/// Bytes hashed so far by `audit --verify`, for a progress line on a terminal (never on a pipe:
/// the caller decides whether to draw it).
public final class VerifyProgress: Sendable {
    private struct State {
        var total: UInt64 = 0
        var done: UInt64 = 0
        var copies = 0
        var copiesDone = 0
        var started = ContinuousClock.now
        var finished = false
    }
    private let state = Mutex(State())
    private let draw: @Sendable (String, Bool) -> Void

    /// `draw(line, final)` receives the line to show (every half second, and once at the end).
    public init(draw: @escaping @Sendable (String, Bool) -> Void) { self.draw = draw }

    func start(total: UInt64, copies: Int) {
        state.withLock { $0 = State(total: total, copies: copies) }
        Task.detached { [self] in
            // Drawn under the lock: no line after the final one.
            while state.withLock({ s in
                if !s.finished { draw(Self.line(s), false) }
                return !s.finished
            }) {
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    func add(_ bytes: Int) { state.withLock { $0.done += UInt64(bytes) } }
    func copyDone() { state.withLock { $0.copiesDone += 1 } }

    func finish() {
        state.withLock { s in
            s.finished = true
            draw(Self.line(s), true)
        }
    }

    public func line() -> String { Self.line(state.withLock { $0 }) }

    /// "verified 3/10 copies, 1.2 GB of 4.0 GB (30%), 210 MB/s, 14 s left".
    private static func line(_ s: State) -> String {
        let elapsed = Double((ContinuousClock.now - s.started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - s.started).components.seconds)
        let rate = elapsed > 0 ? Double(s.done) / elapsed : 0
        let percent = s.total > 0 ? Int(Double(s.done) * 100 / Double(s.total)) : 100
        var text = "verified \(s.copiesDone)/\(s.copies) copies, \(Self.bytes(Double(s.done))) of \(Self.bytes(Double(s.total))) (\(percent)%), \(Self.bytes(rate))/s"
        if rate > 0, s.done < s.total { text += ", \(Int((Double(s.total - s.done) / rate).rounded(.up))) s left" }
        return text
    }

    static func bytes(_ n: Double) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = n, unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(Int(value)) B" : String(format: "%.1f %@", value, units[unit])
    }
}
