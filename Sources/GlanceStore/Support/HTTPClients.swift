import AsyncHTTPClient
import Logging
import NIOCore
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
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        keepAlive.withLock { $0.append(client) }
        return client
    }

    /// Timeouts are `.timedOut` (not tried again: a hung server would hang each try), redirect
    /// loops Glance's MaxRedirectsExceeded, the rest `.remoteServiceUnavailable` (tried again).
    static func map(_ error: any Error, what: String, maxRedirects: Int = 0) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? HTTPClientError {
            if error == .redirectLimitReached || error == .redirectCycleDetected { return .maxRedirectsExceeded(maxRedirects) }
            if [.connectTimeout, .readTimeout, .deadlineExceeded, .writeTimeout, .tlsHandshakeTimeout].contains(error) {
                return .timedOut("\(what): \(error)")
            }
            if error == .cancelled { return .backend("\(what): cancelled") }
            return .remoteServiceUnavailable("\(what): \(error)")
        }
        if error is NIOSSLError { return .remoteServiceUnavailable("\(what): TLS: \(error)") }
        let text = String(describing: error)
        if text.contains("certificate") || text.contains("handshake") || text.contains("SSL") {
            return .remoteServiceUnavailable("\(what): TLS: \(text)")
        }
        return .remoteServiceUnavailable("\(what): \(text)")
    }

    static let tries = 3

    /// `attempt` up to `tries` times, 200 ms then 400 ms apart, while it answers 5xx or fails with
    /// `.remoteServiceUnavailable` (a refused or reset connection may be a restart); any other
    /// error at once: a server that let a timeout pass would most likely do it again, so a hung
    /// backend costs one timeout. The last failure is logged and thrown.
    static func withRetries<Reply>(_ what: String, logger: Logger, status: (Reply) -> Int,
                                   _ attempt: () async throws(StoreError) -> Reply) async throws(StoreError) -> Reply {
        var lastError = StoreError.remoteServiceUnavailable(what)
        for n in 0..<tries {
            if n > 0 { try? await Task.sleep(nanoseconds: UInt64(200_000_000) << UInt64(n - 1)) }
            if Task.isCancelled { throw .backend("\(what): cancelled") }
            do throws(StoreError) {
                let reply = try await attempt()
                if status(reply) >= 500 {
                    lastError = .remoteServiceUnavailable("\(what): HTTP \(status(reply))")
                    continue
                }
                return reply
            } catch {
                lastError = error
                guard case .remoteServiceUnavailable = error else { throw error }
            }
        }
        logger.error("request failed", metadata: ["request": "\(what)", "error": "\(lastError)"])
        throw lastError
    }
}
