import AsyncHTTPClient
import Foundation
import GlanceConfig
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// The HTTP side of one http store: a client per URL scheme (proxies are per scheme in Glance's
/// option), TLS as Glance's options say and nothing else (no environment variable changes it),
/// redirects followed (5 hops, as Glance, but also 303/307/308 and relative Location), and every
/// request bounded: a connect or read timeout, three tries with backoff, then an error. Images may
/// live on several servers: each origin (scheme, host, port) has its own `BackendHealth`, so one
/// server that died fails its own images at once and no other.
final class HTTPConnection: Sendable {
    let settings: HTTPStoreSettings
    let logger: Logger
    private let clients: Mutex<[String: HTTPClient]> = Mutex([:])
    private let healths: Mutex<[String: BackendHealth]> = Mutex([:])
    static let maxRedirects = 5

    init(settings: HTTPStoreSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    private func client(for scheme: String) throws(StoreError) -> HTTPClient {
        try clients.withLock { (clients) throws(StoreError) -> HTTPClient in
            if let client = clients[scheme] { return client }
            let client = HTTPClients.make(insecure: settings.insecure, caFile: settings.caCertificatesFile, timeout: settings.timeout) {
                $0.redirectConfiguration = .follow(max: Self.maxRedirects, allowCycles: false)
                if let proxy = settings.proxies[scheme] { $0.proxy = .server(host: proxy.host, port: proxy.port) }
            }
            clients[scheme] = client
            return client
        }
    }

    /// The health of the server `url` is on.
    func health(of url: String) -> BackendHealth {
        let origin = Self.origin(of: URLText.splitCredentials(url).plain)
        return healths.withLock { healths in
            if let health = healths[origin] { return health }
            let health = BackendHealth(backend: origin, logger: logger) { [weak self] in
                await self?.answers(origin) ?? false
            }
            healths[origin] = health
            return health
        }
    }

    /// "scheme://host:port" of a URL.
    static func origin(of url: String) -> String {
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(), let host = parsed.host else { return url }
        let port = parsed.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// The probe of a server marked down: one HEAD of its root, once; any HTTP answer will do.
    private func answers(_ origin: String) async -> Bool {
        do throws(StoreError) {
            _ = try await once(origin + "/", method: .HEAD, range: nil, maxBody: 0)
            return true
        } catch {
            return false
        }
    }

    struct Reply: Sendable {
        let status: Int
        let headers: HTTPHeaders
        /// The body as received: the network's buffers, not copied.
        let data: ImageBytes
        var body: [UInt8] { data.array }
        var contentLength: UInt64? { headers.first(name: "Content-Length").flatMap { UInt64($0) } }
        var lastModified: Timestamp? { headers.first(name: "Last-Modified").flatMap(HTTPDate.parse) }
    }

    /// One request with retries. `maxBody` bounds what is read of the body.
    func fetch(_ url: String, method: HTTPMethod = .GET, range: ClosedRange<UInt64>? = nil,
               maxBody: Int = 1 << 20) async throws(StoreError) -> Reply {
        try await HTTPClients.withRetries(URLText.redacted(url), health: health(of: url), logger: logger, status: \.status) { () throws(StoreError) in
            try await once(url, method: method, range: range, maxBody: maxBody)
        }
    }

    /// A GET of the whole body, to be read as a stream (servers that ignore Range). The read
    /// timeout bounds every wait for the next part of the body.
    func open(_ url: String) async throws(StoreError) -> HTTPClientResponse.Body {
        let (plain, authorization) = URLText.splitCredentials(url)
        let client = try client(for: URL(string: plain)?.scheme?.lowercased() ?? "http")
        var request = HTTPClientRequest(url: plain)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let health = health(of: url)
        try health.check()
        do {
            let response = try await client.execute(request, timeout: .hours(24))
            health.answered()
            guard response.status.code == 200 else {
                throw StoreError.remoteServiceUnavailable("\(URLText.redacted(plain)): HTTP \(response.status.code)")
            }
            return response.body
        } catch {
            let failure = HTTPClients.map(error, what: URLText.redacted(plain), maxRedirects: Self.maxRedirects)
            health.record(failure)
            throw failure
        }
    }

    private func once(_ url: String, method: HTTPMethod, range: ClosedRange<UInt64>?, maxBody: Int) async throws(StoreError) -> Reply {
        let (plain, authorization) = URLText.splitCredentials(url)
        let scheme = URL(string: plain)?.scheme?.lowercased() ?? "http"
        let client = try client(for: scheme)
        var request = HTTPClientRequest(url: plain)
        request.method = method
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let range { request.headers.add(name: "Range", value: "bytes=\(range.lowerBound)-\(range.upperBound)") }
        let deadline = TimeAmount.milliseconds(Int64(settings.timeout * 1000) * 2)
        do {
            let response = try await client.execute(request, timeout: deadline)
            var data = ImageBytes()
            // A server that ignores Range answers 200 with the body from 0: past 0, none of it
            // is what was asked for, and the caller reads such a server another way.
            let rangeIgnored = response.status == .ok && (range?.lowerBound ?? 0) > 0
            if method != .HEAD && !rangeIgnored {
                let wanted = range.map { Int($0.upperBound - $0.lowerBound + 1) } ?? maxBody
                var received = 0
                // A server that ignores Range sends everything from 0: read no more than asked.
                for try await var buffer in response.body {
                    if buffer.readableBytes > wanted - received { buffer.moveWriterIndex(to: buffer.readerIndex + wanted - received) }
                    received += buffer.readableBytes
                    data.append(buffer)
                    if received >= wanted { break }
                }
            }
            return Reply(status: Int(response.status.code), headers: response.headers, data: data)
        } catch {
            throw HTTPClients.map(error, what: URLText.redacted(plain), maxRedirects: Self.maxRedirects)
        }
    }
}

/// URLs with and without the `user:pass@` that Glance allows in http locations.
public enum URLText {
    public static func redacted(_ url: String) -> String { splitCredentials(url).plain }

    /// One path segment or query value, percent-encoded: everything but RFC 3986's unreserved
    /// characters (names are file names: any byte but '/').
    static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// The URL without credentials, and the Basic authorization they stand for.
    static func splitCredentials(_ url: String) -> (plain: String, authorization: String?) {
        guard var components = URLComponents(string: url), let user = components.user else { return (url, nil) }
        let password = components.password ?? ""
        components.user = nil
        components.password = nil
        let pair = "\(user.removingPercentEncoding ?? user):\(password.removingPercentEncoding ?? password)"
        return (components.string ?? url, "Basic " + Data(pair.utf8).base64EncodedString())
    }
}

/// HTTP dates (RFC 9110: IMF-fixdate, the only form servers send today).
enum HTTPDate {
    static func parse(_ text: String) -> Timestamp? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text).map { Timestamp($0) }
    }
}
