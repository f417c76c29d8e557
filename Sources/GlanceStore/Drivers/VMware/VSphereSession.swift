import AsyncHTTPClient
import Foundation
import GlanceConfig
import Logging
import NIOCore
import NIOHTTP1
import StoreFormats
import Synchronization

/// One store's session with vCenter (or an ESX host): SOAP calls on `/sdk`, logged in once and
/// shared by every request, logged in again once for everyone when vCenter forgets it
/// (NotAuthenticated, or 401 on the datastore's file access); calls tried `vmware_api_retry_count`
/// times while vCenter does not answer, then the store fails (its own `BackendHealth`: a dead
/// vCenter fails this store alone, at once after the first bounded failure).
final class VSphereSession: Sendable {
    let settings: VMwareStoreSettings
    let client: HTTPClient
    let logger: Logger
    /// `https://host[:port]`.
    let base: String
    private let login: SharedCredential<Login>
    private let healthBox = Mutex<BackendHealth?>(nil)
    var health: BackendHealth { healthBox.withLock { $0! } }

    /// The SOAP version spoken: vSphere 6.5's API, which every later vCenter serves.
    static let version = "6.5"
    /// The one call that needs no login: the probe's, and the first of a login.
    static let retrieveServiceContent = envelope("<RetrieveServiceContent xmlns=\"urn:vim25\"><_this type=\"ServiceInstance\">ServiceInstance</_this></RetrieveServiceContent>")

    struct Login: Sendable, Equatable {
        /// `vmware_soap_session="..."`: the Cookie of every call and file request.
        let cookie: String
        let content: ServiceContent
    }

    struct ServiceContent: Sendable, Equatable {
        let propertyCollector: ManagedObject
        let searchIndex: ManagedObject
        let fileManager: ManagedObject
        let sessionManager: ManagedObject
    }

    init(settings: VMwareStoreSettings, storeID: String, logger: Logger) {
        self.settings = settings
        self.logger = logger
        base = "https://" + settings.host
        client = HTTPClients.make(insecure: settings.insecure, caFile: settings.caFile, timeout: settings.timeout) {
            $0.redirectConfiguration = .disallow
            $0.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        }
        login = SharedCredential(what: "logging in to \(settings.host)") { _ in false }
        let health = BackendHealth(backend: "vmware store \(storeID) (\(settings.host))", logger: logger) { [weak self] in
            await self?.answers() ?? false
        }
        healthBox.withLock { $0 = health }
    }

    /// The probe of a store marked down: one RetrieveServiceContent (no login needed).
    private func answers() async -> Bool {
        do throws(StoreError) {
            _ = try await post(Self.retrieveServiceContent, cookie: nil)
            return true
        } catch {
            return false
        }
    }

    /// The session in use (for tests: its key is what TerminateSession needs).
    var currentCookie: String? { login.current?.cookie }
    /// Logins made so far (for tests and the debug log).
    var logins: Int { loginCount.load(ordering: .relaxed) }
    private let loginCount = Atomic<Int>(0)

    // MARK: Calls

    /// `method` on `this` with `arguments` (XML of the method's parameters after `_this`): the
    /// method's response element, or the fault vSphere answered.
    func call(_ method: String, on this: ManagedObject, _ arguments: String = "") async throws(StoreError) -> Result<XMLNode, VSphereFault> {
        let body = Self.envelope("<\(method) xmlns=\"urn:vim25\">\(this.xml("_this"))\(arguments)</\(method)>")
        let reply = try await HTTPClients.withRetries("\(method) at \(settings.host)", health: health, logger: logger,
                                                 tries: settings.retryCount, status: \.status) { () throws(StoreError) in
            try await withLogin(loggedOut: \.loggedOut) { (session) throws(StoreError) in try await post(body, cookie: session.cookie) }
        }
        return try reply.outcome(method)
    }

    /// `attempt` with the current login; when its answer says vCenter forgot the session, once
    /// more after a new login (one for every request that found it gone), twice at most.
    func withLogin<Answer>(loggedOut: (Answer) -> Bool,
                           _ attempt: (Login) async throws(StoreError) -> Answer) async throws(StoreError) -> Answer {
        var relogins = 0
        while true {
            let session = try await current()
            let answer = try await attempt(session)
            guard loggedOut(answer), relogins < 2 else { return answer }
            relogins += 1
            logger.info("vCenter session expired; logging in again", metadata: ["host": "\(settings.host)"])
            _ = try await renew(replacing: session)
        }
    }

    /// The service content's references, logged in (a login that gets no answer is tried as a call
    /// is, and marks the store down as a call does).
    func content() async throws(StoreError) -> ServiceContent {
        try await HTTPClients.withRetries("logging in to \(settings.host)", health: health, logger: logger,
                                          tries: settings.retryCount, status: { (_: ServiceContent) in 200 }) { () throws(StoreError) in
            try await current().content
        }
    }

    /// The current login (made first when there is none).
    func current() async throws(StoreError) -> Login {
        try await login.value { () throws(StoreError) in try await self.logIn() }
    }

    /// A new login unless another caller made one since `stale`.
    func renew(replacing stale: Login) async throws(StoreError) -> Login {
        try await login.renew(replacing: stale) { () throws(StoreError) in try await self.logIn() }
    }

    private func logIn() async throws(StoreError) -> Login {
        let contentReply = try await post(Self.retrieveServiceContent, cookie: nil)
        let returnval = try contentReply.outcome("RetrieveServiceContent").get(or: "RetrieveServiceContent").child("returnval")
        guard let returnval,
              let collector = ManagedObject(returnval.child("propertyCollector")),
              let searchIndex = ManagedObject(returnval.child("searchIndex")),
              let fileManager = ManagedObject(returnval.child("fileManager")),
              let sessionManager = ManagedObject(returnval.child("sessionManager")) else {
            throw .remoteServiceUnavailable("\(settings.host): RetrieveServiceContent: no property collector, search index, file or session manager in the answer")
        }
        let content = ServiceContent(propertyCollector: collector, searchIndex: searchIndex, fileManager: fileManager, sessionManager: sessionManager)
        let arguments = "<userName>\(XMLText.escape(settings.username))</userName><password>\(XMLText.escape(settings.password))</password>"
        let reply = try await post(Self.envelope("<Login xmlns=\"urn:vim25\">\(sessionManager.xml("_this"))\(arguments)</Login>"), cookie: nil)
        if case .failure(let fault) = reply.result {
            if fault.type == "InvalidLogin" { throw .forbidden("vCenter \(settings.host) refused the login of \(settings.username) (InvalidLogin)") }
            throw .remoteServiceUnavailable("Login at \(settings.host): \(fault)")
        }
        guard let cookie = reply.cookie else {
            throw .remoteServiceUnavailable("Login at \(settings.host): no vmware_soap_session cookie in the answer")
        }
        let count = loginCount.add(1, ordering: .relaxed).newValue
        logger.debug("logged in to vCenter", metadata: ["host": "\(settings.host)", "user": "\(settings.username)", "logins": "\(count)"])
        return Login(cookie: cookie, content: content)
    }

    struct Reply: Sendable {
        let status: Int
        /// nil when the answer was no SOAP envelope (an HTTP error page).
        let result: Result<XMLNode, VSphereFault>?
        let cookie: String?
        /// vCenter no longer knows the session: log in again and repeat.
        var loggedOut: Bool {
            if status == 401 { return true }
            if case .failure(let fault) = result { return fault.type == "NotAuthenticated" }
            return false
        }

        func outcome(_ what: String) throws(StoreError) -> Result<XMLNode, VSphereFault> {
            guard let result else { throw .remoteServiceUnavailable("\(what): HTTP \(status), not a SOAP answer") }
            if case .failure(let fault) = result, fault.type == "NotAuthenticated" {
                throw .forbidden("\(what): the vCenter session was refused again after a new login (\(fault))")
            }
            return result
        }
    }

    private func post(_ body: String, cookie: String?) async throws(StoreError) -> Reply {
        var request = HTTPClientRequest(url: base + "/sdk")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "text/xml; charset=utf-8")
        request.headers.add(name: "SOAPAction", value: "\"urn:vim25/\(Self.version)\"")
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        request.body = .bytes(ByteBuffer(string: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeout * 2000)))
            let bytes = try await HTTPClients.collect(response, method: .POST, maxBody: 64 << 20, what: "\(base)/sdk").array
            let cookie = response.headers["Set-Cookie"].lazy.compactMap(Self.sessionCookie).first
            let status = Int(response.status.code)
            let result = SOAPEnvelope.parse(bytes)
            // A fault comes with HTTP 500: vCenter answered, nothing to try again.
            return Reply(status: result == nil ? status : (status >= 500 ? 200 : status), result: result, cookie: cookie)
        } catch {
            throw Self.map(error, what: "\(base)/sdk")
        }
    }

    /// HTTPClients' mapping, except that a TLS handshake that failed (a certificate that does not
    /// verify) is not tried again: it would fail the same way `vmware_api_retry_count` times.
    static func map(_ error: any Error, what: String) -> StoreError {
        let mapped = HTTPClients.map(error, what: what)
        if case .remoteServiceUnavailable(let text) = mapped, text.contains("TLS") { return .backend(text) }
        return mapped
    }

    /// `vmware_soap_session=...` out of a Set-Cookie header.
    static func sessionCookie(_ header: String) -> String? {
        guard let pair = header.split(separator: ";").first?.trimmingCharacters(in: .whitespaces),
              pair.hasPrefix("vmware_soap_session=") else { return nil }
        return pair
    }

    static func envelope(_ body: String) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>\(body)</soapenv:Body></soapenv:Envelope>"
    }

    // MARK: Properties and tasks

    /// `paths` of `object`, by name (RetrievePropertiesEx).
    func properties(of object: ManagedObject, _ paths: [String]) async throws(StoreError) -> [String: XMLNode] {
        let content = try await content()
        let spec = "<specSet><propSet><type>\(XMLText.escape(object.type))</type>"
            + paths.map { "<pathSet>\(XMLText.escape($0))</pathSet>" }.joined()
            + "</propSet><objectSet>\(object.xml("obj"))</objectSet></specSet><options/>"
        let reply = try await call("RetrievePropertiesEx", on: content.propertyCollector, spec).get(or: "reading \(paths.joined(separator: ", ")) of \(object)")
        var found: [String: XMLNode] = [:]
        for objectContent in reply.child("returnval")?.all("objects") ?? [] {
            for property in objectContent.all("propSet") {
                if let name = property.value("name"), let value = property.child("val") { found[name] = value }
            }
        }
        return found
    }

    /// Runs a task to its end: its result (nil for tasks without one), or its fault. Polled at once,
    /// then at growing intervals up to `vmware_task_poll_interval` seconds (Glance polls at that
    /// interval only, which would make every delete or rename of the mount take seconds).
    func runTask(_ method: String, on this: ManagedObject, _ arguments: String) async throws(StoreError) -> Result<XMLNode?, VSphereFault> {
        let started = try await call(method, on: this, arguments)
        let task: ManagedObject
        switch started {
        case .failure(let fault): return .failure(fault)
        case .success(let response):
            guard let reference = ManagedObject(response.child("returnval")) else {
                throw .remoteServiceUnavailable("\(method): no task in the answer")
            }
            task = reference
        }
        var pause = Duration.milliseconds(20)
        let longest = Duration.seconds(settings.taskPollInterval)
        while true {
            guard let info = TaskInfo(try await properties(of: task, ["info"])["info"]) else {
                throw .remoteServiceUnavailable("\(method): the task \(task) has no info")
            }
            if info.isOver { return info.fault.map { .failure($0) } ?? .success(info.result) }
            try? await Task.sleep(for: pause)
            if Task.isCancelled { throw .backend("\(method): cancelled") }
            pause = min(pause * 2, longest)
        }
    }
}

extension Result where Success == XMLNode, Failure == VSphereFault {
    /// The answer, or the fault as a StoreError.
    func get(or what: String) throws(StoreError) -> XMLNode {
        switch self {
        case .success(let node): return node
        case .failure(let fault): throw VSphereFaults.error(fault, what)
        }
    }
}

/// The one mapping of vSphere's faults to store errors.
enum VSphereFaults {
    static func error(_ fault: VSphereFault, _ what: String, image: String? = nil) -> StoreError {
        switch fault.type {
        case "FileNotFound": return image.map { .notFound(image: $0) } ?? .backend("\(what): \(fault)")
        case "FileAlreadyExists": return image.map { .duplicate(image: $0) } ?? .backend("\(what): \(fault)")
        case "NoPermission", "NotAuthenticated", "InvalidLogin": return .forbidden("\(what): \(fault)")
        case "NoDiskSpace", "InsufficientDisk": return .storageFull("\(what): \(fault)")
        default: return .remoteServiceUnavailable("\(what): \(fault)")
        }
    }
}
