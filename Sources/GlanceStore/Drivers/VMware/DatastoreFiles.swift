import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import StoreFormats

/// A datastore's files over HTTPS (`/folder/<path>?dcPath=&dsName=`), with the session's cookie: the
/// data path of reads and uploads. vSphere answers 401 when the session is gone; the request is then
/// made again after one new login (for everyone).
extension VSphereSession {
    /// The URL of `path` (relative to the datastore's root) on `datastore`.
    func fileURL(_ datastore: VMwareDatastore, _ path: String) -> String {
        let encoded = path.split(separator: "/", omittingEmptySubsequences: false).map { URLText.component(String($0)) }.joined(separator: "/")
        return base + "/folder/" + encoded + "?dcPath=" + URLText.component(datastore.datacenterPath) + "&dsName=" + URLText.component(datastore.name)
    }

    struct FileReply: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let data: ImageBytes
    }

    /// A GET (a range of it) or HEAD, tried as `vmware_api_retry_count` says.
    func file(_ method: HTTPMethod, _ url: String, range: ClosedRange<UInt64>? = nil, maxBody: Int = 64 << 20) async throws(StoreError) -> FileReply {
        try await HTTPClients.withRetries("\(method) \(url)", health: health, logger: logger, tries: settings.retryCount, status: \.status) { () throws(StoreError) in
            try await withLogin(loggedOut: { $0.status == 401 }) { (session) throws(StoreError) in
                var request = HTTPClientRequest(url: url)
                request.method = method
                request.headers.add(name: "Cookie", value: session.cookie)
                if let range { request.headers.add(name: "Range", value: "bytes=\(range.lowerBound)-\(range.upperBound)") }
                do {
                    let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeout * 2000)))
                    let data = try await HTTPClients.collect(response, method: method, maxBody: maxBody, what: "\(method) \(url)")
                    return FileReply(status: Int(response.status.code), headers: response.headers, data: data)
                } catch {
                    throw Self.map(error, what: "\(method) \(url)")
                }
            }
        }
    }

    /// A PUT whose body is sent as it is produced (`length` when known, else chunked). Not tried
    /// again: the body is gone once sent. The session is checked first (a login that vCenter forgot
    /// would cost the whole upload).
    func upload(_ url: String, body: BodyChannel, length: UInt64?) async throws(StoreError) -> Int {
        do throws(StoreError) {
            return try await health.guarded { () throws(StoreError) in
                let session = try await activeSession()
                var request = HTTPClientRequest(url: url)
                request.method = .PUT
                request.headers.add(name: "Cookie", value: session.cookie)
                request.headers.add(name: "Content-Type", value: "application/octet-stream")
                request.body = .stream(body, length: length.map { .known(Int64($0)) } ?? .unknown)
                do {
                    let response = try await client.execute(request, timeout: .hours(24))
                    for try await _ in response.body {}
                    body.close()
                    if response.status.code == 401 { _ = try? await renew(replacing: session) }
                    return Int(response.status.code)
                } catch {
                    throw Self.map(error, what: "PUT \(url)")
                }
            }
        } catch {
            body.close(error)
            throw error
        }
    }

    /// The login, verified by a call that needs it (the service content's `currentSession`): renewed
    /// when vCenter forgot it.
    func activeSession() async throws(StoreError) -> Login {
        let content = try await content()
        _ = try await properties(of: content.sessionManager, ["currentSession"])
        return try await current()
    }
}
