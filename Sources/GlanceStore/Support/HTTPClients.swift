import AsyncHTTPClient
import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The HTTP clients of the network drivers (http, swift), made one way: TLS only as the store's
/// options say, connect and read timeouts, no transparent decompression; and the one mapping of
/// what a request can throw to a StoreError.
enum HTTPClients {
    /// Clients live as long as the process (a mount): AsyncHTTPClient insists on an explicit
    /// shutdown otherwise, and a store is never closed before exit.
    private static let keepAlive = Mutex<[HTTPClient]>([])

    static func make(insecure: Bool, caFile: String?, timeout: Double,
                     adjust: (inout HTTPClient.Configuration) -> Void = { _ in }) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        var tls = TLSConfiguration.makeClientConfiguration()
        if insecure {
            tls.certificateVerification = .none
        } else if let caFile {
            tls.trustRoots = .file(caFile)
        }
        configuration.tlsConfiguration = tls
        let milliseconds = Int64(timeout * 1000)
        configuration.timeout = .init(connect: .milliseconds(milliseconds), read: .milliseconds(milliseconds))
        configuration.decompression = .disabled
        adjust(&configuration)
        // A refused connection fails its request at once: AsyncHTTPClient would otherwise try to
        // connect again with backoff until the connect timeout, per request (30 s of a `cat` on a
        // stopped server). Our tries are `withRetries`', and `BackendHealth` remembers the outage.
        // Set after `adjust`, which may replace the whole pool configuration.
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        keepAlive.withLock { $0.append(client) }
        return client
    }

    /// Timeouts are `.timedOut` (not tried again: a hung server would hang each try), redirect
    /// loops Glance's MaxRedirectsExceeded; a connection refused, reset or closed under the request
    /// `.unreachable` (the server is not there: `BackendHealth` marks it down); anything else —
    /// TLS refused, a body cut short by our own side — `.remoteServiceUnavailable`.
    static func map(_ error: any Error, what: String, maxRedirects: Int = 0) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? HTTPClientError {
            if error == .redirectLimitReached || error == .redirectCycleDetected { return .maxRedirectsExceeded(maxRedirects) }
            if [.connectTimeout, .readTimeout, .deadlineExceeded, .writeTimeout, .tlsHandshakeTimeout].contains(error) {
                return .timedOut("\(what): \(error)")
            }
            if error == .cancelled { return .backend("\(what): cancelled") }
            if error == .remoteConnectionClosed { return .unreachable("\(what): \(error)") }
            return .remoteServiceUnavailable("\(what): \(error)")
        }
        if error is NIOSSLError { return .remoteServiceUnavailable("\(what): TLS: \(error)") }
        if let error = error as? ChannelError {
            if case .connectTimeout = error { return .timedOut("\(what): \(error)") }
            return .unreachable("\(what): \(error)")
        }
        if error is NIOConnectionError { return .unreachable("\(what): \(error)") }
        if let error = error as? IOError, Self.connectionErrnos.contains(error.errnoCode) {
            return .unreachable("\(what): \(error)")
        }
        let text = String(describing: error)
        if text.contains("certificate") || text.contains("handshake") || text.contains("SSL") {
            return .remoteServiceUnavailable("\(what): TLS: \(text)")
        }
        return .remoteServiceUnavailable("\(what): \(text)")
    }

    /// A response's body as it arrived (the network's buffers, not copied); more than `maxBody`
    /// bytes fail the request, not to be tried again (a server answering something else than asked).
    static func collect(_ response: HTTPClientResponse, method: HTTPMethod, maxBody: Int, what: String) async throws -> ImageBytes {
        var data = ImageBytes()
        guard method != .HEAD else { return data }
        var received = 0
        for try await buffer in response.body {
            received += buffer.readableBytes
            if received > maxBody { throw StoreError.backend("\(what): answer larger than \(maxBody) bytes") }
            data.append(buffer)
        }
        return data
    }

    /// A system call's errno that says the other end is not there.
    private static let connectionErrnos: Set<Int32> = [ECONNREFUSED, ECONNRESET, ECONNABORTED, EPIPE, ENETUNREACH, EHOSTUNREACH,
                                                        ENETDOWN, EHOSTDOWN, ENOTCONN]

    static let tries = 3

    /// `attempt` up to `tries` times, 200 ms then 400 ms apart, while it answers 5xx or fails with
    /// `.unreachable` or `.remoteServiceUnavailable` (a refused or reset connection may be a
    /// restart); any other error at once: a server that let a timeout pass would most likely do it
    /// again, so a hung backend costs one timeout. The last failure is logged and thrown. Nothing
    /// is tried while `health` knows the backend is down, and a failure for want of an answer
    /// marks it down.
    static func withRetries<Reply>(_ what: String, health: BackendHealth, logger: Logger, tries: Int = tries,
                                   status: (Reply) -> Int,
                                   _ attempt: () async throws(StoreError) -> Reply) async throws(StoreError) -> Reply {
        var lastError = StoreError.unreachable(what)
        for n in 0..<max(1, tries) {
            if n > 0 { try? await Task.sleep(nanoseconds: UInt64(200_000_000) << UInt64(min(n - 1, 4))) }
            if Task.isCancelled { throw .backend("\(what): cancelled") }
            try health.check()
            do throws(StoreError) {
                let reply = try await attempt()
                health.answered()
                if status(reply) >= 500 {
                    lastError = .remoteServiceUnavailable("\(what): HTTP \(status(reply))")
                    continue
                }
                return reply
            } catch {
                lastError = error
                switch error {
                case .unreachable, .remoteServiceUnavailable: continue
                default:
                    health.record(error)
                    throw error
                }
            }
        }
        logger.error("request failed", metadata: ["request": "\(what)", "error": "\(lastError)"])
        health.record(lastError)
        throw lastError
    }
}
