import Foundation
import GlanceConfig
import Logging
import Synchronization

/// Glance's http store (`gs/_drivers/http.py`), always read-only. Glance keeps one URL per image in
/// its database; the mount lists the store from the index pages of `storefs_index_url`, and takes
/// each image's size from Content-Length and its time from Last-Modified (HEAD).
public final class HTTPStore: Store {
    public let id: String
    public let type = StoreType.http
    /// Read at any offset (Range requests), nothing else: Glance's http store has no add or delete.
    public let capabilities: Capabilities = [.readRandom]
    let settings: HTTPStoreSettings
    let connection: HTTPConnection
    let logger: Logger
    /// What the last listing and HEADs found, by image name.
    private let catalog = Mutex<[String: CatalogEntry]>([:])
    /// When the index pages were last read.
    private let lastIndexRead = Mutex<ContinuousClock.Instant?>(nil)

    struct CatalogEntry: Sendable {
        let url: String
        var info: ImageInfo?
        var checked: ContinuousClock.Instant
    }

    /// How long a HEAD result, or a reading of the index pages, is trusted before asking again.
    static let freshness: Duration = .seconds(2)
    /// HEAD requests in flight at once while listing.
    static let listingConcurrency = 8

    public init(definition: StoreDefinition, logger: Logger) throws(StoreError) {
        guard let settings = definition.http else {
            throw .badStoreConfiguration(store: definition.id, reason: "not an http store")
        }
        self.id = definition.id
        self.settings = settings
        self.logger = logger
        self.connection = HTTPConnection(settings: settings, logger: logger)
    }

    // MARK: Listing

    public func list() async throws(StoreError) -> [ImageInfo] {
        let found = try await readIndexes()
        // HEAD every image, a few at a time; one the server answers with an error is left out and
        // logged, but a server that stops answering fails the listing (never a partial directory).
        var images: [ImageInfo] = []
        var noAnswer: StoreError?
        await withTaskGroup(of: Result<ImageInfo, StoreError>.self) { group in
            var next = 0
            func start() {
                guard next < found.count, noAnswer == nil else { return }
                let name = found[next].name
                next += 1
                group.addTask { () async -> Result<ImageInfo, StoreError> in
                    do throws(StoreError) { return .success(try await self.stat(name)) } catch { return .failure(error) }
                }
            }
            for _ in 0..<Self.listingConcurrency { start() }
            while let result = await group.next() {
                switch result {
                case .success(let info): images.append(info)
                case .failure(let error) where error.meansNoAnswer: noAnswer = noAnswer ?? error
                case .failure(.notFound): break  // removed since the index page was read
                case .failure(let error):
                    logger.warning("image left out of the listing", metadata: ["store": "\(id)", "error": "\(error)"])
                }
                start()
            }
        }
        if let noAnswer { throw noAnswer }
        let order = Dictionary(uniqueKeysWithValues: found.enumerated().map { ($1.name, $0) })
        return images.sorted { order[$0.name, default: 0] < order[$1.name, default: 0] }
    }

    public func stat(_ name: String) async throws(StoreError) -> ImageInfo {
        let known = catalog.withLock { $0[name] }
        if let known, let info = known.info, ContinuousClock.now - known.checked < Self.freshness { return info }
        guard let url = known?.url else {
            // Not seen yet: the index pages tell whether it exists, read again only once they are
            // stale, so lookups of names that do not exist (the kernel makes many) cost nothing.
            let stale = lastIndexRead.withLock { $0.map { ContinuousClock.now - $0 >= Self.freshness } ?? true }
            if stale, !settings.indexURLs.isEmpty {
                _ = try await readIndexes()
                if catalog.withLock({ $0[name] }) != nil { return try await stat(name) }
            }
            throw .notFound(image: name)
        }
        let reply = try await connection.fetch(url, method: .HEAD)
        guard reply.status == 200 else {
            if reply.status == 404 || reply.status == 410 {
                catalog.withLock { _ = $0.removeValue(forKey: name) }
                throw .notFound(image: name)
            }
            throw .remoteServiceUnavailable("\(URLText.redacted(url)): HTTP \(reply.status)")
        }
        let info = ImageInfo(name: name, size: reply.contentLength ?? 0,
                             modificationTime: reply.lastModified ?? Timestamp(seconds: 0, nanoseconds: 0))
        catalog.withLock { $0[name] = CatalogEntry(url: url, info: info, checked: .now) }
        return info
    }

    /// Reads every index page and records its entries in the catalog (an entry whose URL changed
    /// loses its cached HEAD); returns them in page order, the first of a name winning.
    private func readIndexes() async throws(StoreError) -> [IndexPage.Entry] {
        var found: [IndexPage.Entry] = []
        for page in settings.indexURLs {
            let reply = try await connection.fetch(page, maxBody: 64 << 20)
            guard reply.status == 200 else {
                logger.error("index page unavailable", metadata: ["store": "\(id)", "url": "\(URLText.redacted(page))", "status": "\(reply.status)"])
                continue
            }
            let (entries, skipped) = IndexPage.entries(reply.body, contentType: reply.headers.first(name: "Content-Type"), pageURL: page)
            for name in skipped {
                LeftOutNames.report(store: id, name: name, reason: ImageName.problem(name) ?? "not a URL", logger: logger)
            }
            for entry in entries where !found.contains(where: { $0.name == entry.name }) { found.append(entry) }
        }
        let now = ContinuousClock.now
        catalog.withLock { catalog in
            for entry in found where catalog[entry.name]?.url != entry.url {
                catalog[entry.name] = CatalogEntry(url: entry.url, info: nil, checked: now - Self.freshness)
            }
        }
        lastIndexRead.withLock { $0 = now }
        return found
    }

    // MARK: Reading

    public func openForReading(_ name: String) async throws(StoreError) -> any ImageReader {
        let info = try await stat(name)
        guard let url = catalog.withLock({ $0[name]?.url }) else { throw .notFound(image: name) }
        return HTTPImageReader(url: url, size: info.size, connection: connection, meters: StoreMeters.of(id))
    }

    // MARK: Read-only

    public func beginWrite(_ name: String, sizeHint: UInt64?) async throws(StoreError) -> any ImageWriter {
        throw .storeAddDisabled(store: id)
    }

    public func delete(_ name: String) async throws(StoreError) {
        throw .storeDeleteNotSupported(store: id)
    }

    /// The image's URL, without any `user:pass@`.
    public func location(of name: String) -> String {
        catalog.withLock { $0[name] }.map { URLText.redacted($0.url) } ?? ""
    }
}
