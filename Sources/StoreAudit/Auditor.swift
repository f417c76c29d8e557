import GlanceConfig
import GlanceStore
import Logging

/// The audit: Glance's catalogue, every selected store's holdings (listed at once), the rules, and
/// with `verify` every copy's bytes hashed through the store's own driver.
public struct Auditor: Sendable {
    public struct Options: Sendable {
        /// Store ids to audit; empty: every enabled store (and the reserved stores' leftovers).
        public var stores: [String] = []
        public var verify = false
        /// Copies hashed at once; each holds its reader's read-ahead (a few 8 MiB pieces).
        public var parallel = 3
        public init() {}
    }

    let registry: StoreRegistry
    let client: GlanceClient
    let logger: Logger

    public init(registry: StoreRegistry, client: GlanceClient, logger: Logger) {
        self.registry = registry
        self.client = client
        self.logger = logger
    }

    public func run(_ options: Options, progress: VerifyProgress? = nil) async -> AuditReport {
        var report = AuditReport()
        let catalogue: [CatalogueImage]
        do throws(StoreError) { catalogue = try await client.images() } catch {
            report.problems.append("cannot read Glance's catalogue from \(client.source): \(error)")
            return report
        }
        report.catalogueImages = catalogue.count
        if !catalogue.isEmpty, catalogue.allSatisfy({ $0.locations == nil }) {
            report.notes.append("Glance shows no locations (show_multiple_locations and show_image_direct_url are off): copies are matched by each image's `stores`, without their URLs")
        }

        // Images marked as being copied or imported: is a task still at it?
        var tasks: [String: [CatalogueTask]] = [:]
        var active = Set<String>()
        for image in catalogue where !image.importingToStores.isEmpty || ["uploading", "importing"].contains(image.status) {
            do throws(StoreError) {
                let list = try await client.tasks(of: image.id)
                tasks[image.id] = list
                if list.contains(where: \.isRunning) { active.insert(image.id) }
            } catch {
                report.problems.append("cannot read the tasks of image \(image.id) (is its import marker stale?): \(error)")
            }
        }
        let rules = AuditRules(catalogue: catalogue, activeImports: active)

        let selected = options.stores.isEmpty ? registry.stores : registry.stores.filter { options.stores.contains($0.id) }
        let holdings = await Self.holdings(of: selected)
        var audited: [StoreHoldings] = []
        for (store, result) in zip(selected, holdings) {
            switch result {
            case .success(let held):
                audited.append(held)
                report.storesAudited.append(store.id)
                report.findings += rules.findings(for: held)
            case .failure(let error):
                report.problems.append("cannot list store \(store.id): \(error)")
            }
        }
        report.findings += rules.markerFindings(tasks: tasks, audited: Set(report.storesAudited))
        if options.stores.isEmpty {
            for id in GlanceConfiguration.reservedStoreIDs {
                guard let store = registry.reserved[id] else { continue }
                do throws(StoreError) {
                    let files = try await store.list()
                    report.findings += id == "os_glance_staging_store"
                        ? rules.stagingFindings(store: id, files: files) : rules.tasksStoreFindings(store: id, files: files)
                    report.storesAudited.append(id)
                } catch {
                    report.problems.append("cannot list the reserved store \(id): \(error)")
                }
            }
        }
        if options.verify {
            let stores = Dictionary(selected.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let work = audited.flatMap { held in rules.verifiable(held).map { (held.store, $0.0, $0.1) } }
            progress?.start(total: work.reduce(0) { $0 + $1.1.size }, copies: work.count)
            let results = await Self.verify(work, stores: stores, parallel: max(1, options.parallel), progress: progress)
            progress?.finish()
            for (item, result) in zip(work, results) {
                switch result {
                case .success(let digests):
                    report.imagesVerified += 1
                    if let finding = rules.checksumFinding(store: item.0, image: item.2, size: item.1.size, digests: digests) {
                        report.findings.append(finding)
                    }
                case .failure(let error):
                    report.problems.append("cannot read image \(item.1.name) of store \(item.0) to verify it: \(error)")
                }
            }
        }
        report.findings = Self.ordered(report.findings, stores: registry.stores.map(\.id) + GlanceConfiguration.reservedStoreIDs)
        return report
    }

    static func holdings(of stores: [any Store]) async -> [Result<StoreHoldings, StoreError>] {
        await Parallel.results(stores, depth: stores.count) { store throws(StoreError) in
            StoreHoldings(store: store.id, images: try await store.list(), leftovers: try await store.leftovers())
        }
    }

    /// At most `parallel` copies read at once, in the order given.
    static func verify(_ work: [(String, ImageInfo, CatalogueImage)], stores: [String: any Store], parallel: Int,
                       progress: VerifyProgress?) async -> [Result<ImageDigests, StoreError>] {
        await Parallel.results(work.map { Copy(store: $0.0, name: $0.1.name, algorithm: $0.2.osHashAlgo) }, depth: parallel) { copy throws(StoreError) in
            defer { progress?.copyDone() }
            guard let store = stores[copy.store] else { throw .backend("no store \(copy.store)") }
            return try await store.computeDigests(of: copy.name, algorithm: copy.algorithm ?? ImageDigests.algorithm) { progress?.add($0) }
        }
    }

    /// One copy to hash (what `verify` needs of an audit's work item, sendable).
    struct Copy: Sendable {
        let store: String
        let name: String
        let algorithm: String?
    }

    /// Stores in configuration order, then findings by kind and image.
    static func ordered(_ findings: [AuditFinding], stores: [String]) -> [AuditFinding] {
        let rank = Dictionary(stores.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let kinds = Dictionary(AuditFinding.Kind.allCases.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        return findings.sorted {
            (rank[$0.store] ?? .max, kinds[$0.kind]!, $0.image) < (rank[$1.store] ?? .max, kinds[$1.kind]!, $1.image)
        }
    }
}
