import AsyncHTTPClient
import Foundation
import GlanceConfig
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// The Swift account a store lives in, over HTTP: every request carries the current token; a 401
/// renews it for everyone and the request is made again; retries and TLS as `HTTPClients` does
/// them for every network driver (TLS only from `swift_store_auth_insecure` / `_cacert`). One
/// `BackendHealth` for the proxy and the auth service together: either gone, the store fails at once.
final class SwiftAccount: Sendable {
    let settings: SwiftStoreSettings
    let auth: SwiftAuth
    let client: HTTPClient
    let logger: Logger
    /// Set once in init (the probe needs the account itself).
    private let healthBox = Mutex<BackendHealth?>(nil)
    var health: BackendHealth { healthBox.withLock { $0! } }

    init(settings: SwiftStoreSettings, storeID: String, logger: Logger) {
        self.settings = settings
        self.logger = logger
        let client = HTTPClients.make(insecure: settings.insecure, caFile: settings.caCertificate, timeout: settings.timeout) {
            $0.redirectConfiguration = .disallow
            $0.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        }
        self.client = client
        auth = SwiftAuth(settings: settings, client: client)
        let health = BackendHealth(backend: "swift store \(storeID)", logger: logger) { [weak self] in
            await self?.answers() ?? false
        }
        healthBox.withLock { $0 = health }
    }

    /// The probe of a store marked down: a token (a new one only if needed) and one HEAD of the
    /// account, once; any answer of the proxy will do.
    private func answers() async -> Bool {
        do throws(StoreError) {
            let session = try await auth.session()
            var request = HTTPClientRequest(url: Self.url(session.storageURL, "", nil))
            request.method = .HEAD
            request.headers.add(name: "X-Auth-Token", value: session.token)
            _ = try await execute(request, method: .HEAD, path: "", maxBody: 0)
            return true
        } catch {
            return false
        }
    }

    struct Reply: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let data: ImageBytes
        var ok: Bool { (200..<300).contains(status) }
        func header(_ name: String) -> String? { headers.first(name: name) }
    }

    /// A request on `path` (`container` or `container/object`, already encoded) below the storage URL.
    func request(_ method: HTTPMethod, _ path: String, query: String? = nil, headers: [(String, String)] = [],
                 body: ByteBuffer? = nil, range: ClosedRange<UInt64>? = nil, maxBody: Int = 64 << 20) async throws(StoreError) -> Reply {
        // A few renewals at most: an auth service may hand out the same token again until it expires
        // (tempauth does): then it is asked again after a pause, not at once.
        var renewals = 0
        return try await HTTPClients.withRetries("\(method) \(path)", health: health, logger: logger, status: \.status) { () throws(StoreError) in
            while true {
                let session = try await auth.session()
                var request = HTTPClientRequest(url: Self.url(session.storageURL, path, query))
                request.method = method
                request.headers.add(name: "X-Auth-Token", value: session.token)
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                if let range { request.headers.add(name: "Range", value: "bytes=\(range.lowerBound)-\(range.upperBound)") }
                if let body { request.body = .bytes(body) } else if method == .PUT { request.headers.add(name: "Content-Length", value: "0") }
                let reply = try await execute(request, method: method, path: path, maxBody: maxBody)
                guard reply.status == 401, renewals < 4 else { return reply }
                // The token expired or was revoked: a new token, then the same request again.
                renewals += 1
                if try await auth.renew(replacing: session).token == session.token {
                    try? await Task.sleep(for: .milliseconds(500 * renewals))
                }
            }
        }
    }

    /// A PUT whose body is sent as it is produced (chunked unless `length` is known). Not retried:
    /// the body is gone once sent. A token about to expire is renewed before it starts.
    func upload(_ path: String, headers: [(String, String)], body: BodyChannel, length: Int? = nil) async throws(StoreError) -> Reply {
        do throws(StoreError) {
            return try await health.guarded { () throws(StoreError) in try await uploadOnce(path, headers: headers, body: body, length: length) }
        } catch {
            body.close(error)
            throw error
        }
    }

    private func uploadOnce(_ path: String, headers: [(String, String)], body: BodyChannel, length: Int?) async throws(StoreError) -> Reply {
        let session = try await auth.session()
        var request = HTTPClientRequest(url: Self.url(session.storageURL, path, nil))
        request.method = .PUT
        request.headers.add(name: "X-Auth-Token", value: session.token)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .stream(body, length: length.map { .known(Int64($0)) } ?? .unknown)
        do throws(StoreError) {
            let reply = try await execute(request, method: .PUT, path: path, maxBody: 1 << 20, deadline: .hours(24))
            body.close()
            if reply.status == 401 { _ = try? await auth.renew(replacing: session) }
            return reply
        } catch {
            body.close(error)
            throw error
        }
    }

    private func execute(_ request: HTTPClientRequest, method: HTTPMethod, path: String, maxBody: Int,
                         deadline: TimeAmount? = nil) async throws(StoreError) -> Reply {
        do {
            let response = try await client.execute(request, timeout: deadline ?? .milliseconds(Int64(settings.timeout * 2000)))
            let data = try await HTTPClients.collect(response, method: method, maxBody: maxBody, what: "\(method) \(path)")
            return Reply(status: Int(response.status.code), headers: response.headers, data: data)
        } catch {
            throw HTTPClients.map(error, what: "\(method) \(path)")
        }
    }

    static func url(_ storage: String, _ path: String, _ query: String?) -> String {
        (storage.hasSuffix("/") ? String(storage.dropLast()) : storage) + "/" + path + (query.map { "?" + $0 } ?? "")
    }

    /// One path segment or query value, percent-encoded (names are file names: any byte but '/').
    static func encode(_ text: String) -> String { URLText.component(text) }

    static func objectPath(_ container: String, _ object: String) -> String { encode(container) + "/" + encode(object) }
}
