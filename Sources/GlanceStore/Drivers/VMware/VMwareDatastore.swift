import GlanceConfig
import StoreFormats
import Synchronization

/// A datastore of `vmware_datastores`, found in vCenter: its datacenter, itself and its browser.
struct VMwareDatastore: Sendable, Hashable {
    let datacenterPath: String
    let name: String
    let weight: Int
    let datacenter: ManagedObject
    let reference: ManagedObject
    let browser: ManagedObject

    /// `[name] path`: how vSphere's calls name a file.
    func path(_ relative: String) -> String { "[\(name)] \(relative)" }
}

/// Free and total bytes of one datastore, as its summary says now.
struct DatastoreSpace: Sendable {
    let capacity: UInt64
    let free: UInt64
}

/// The store's datastores, looked up once (Glance's `_get_datastore`: the datacenter by inventory
/// path, then its datastore of that name) at the first request that needs them, not at start (a
/// vCenter down at mount time fails this store's requests, not the mount).
final class VMwareDatastores: Sendable {
    let session: VSphereSession
    let storeID: String
    private let found = Mutex<[VMwareDatastore]?>(nil)

    init(session: VSphereSession, storeID: String) {
        self.session = session
        self.storeID = storeID
    }

    func all() async throws(StoreError) -> [VMwareDatastore] {
        if let found = found.withLock({ $0 }) { return found }
        var datastores: [VMwareDatastore] = []
        for configured in session.settings.datastores {
            datastores.append(try await lookUp(configured))
        }
        found.withLock { $0 = datastores }
        return datastores
    }

    private func lookUp(_ configured: VMwareStoreSettings.Datastore) async throws(StoreError) -> VMwareDatastore {
        let content = try await session.content()
        let where_ = "datastore \(configured.name) of datacenter \(configured.datacenterPath)"
        let answer = try await session.call("FindByInventoryPath", on: content.searchIndex,
                                            "<inventoryPath>\(XMLText.escape(configured.datacenterPath))</inventoryPath>").get(or: "finding \(where_)")
        guard let datacenter = ManagedObject(answer.child("returnval")), datacenter.type == "Datacenter" else {
            throw .badStoreConfiguration(store: storeID, reason: "vmware_datastores: no datacenter at the inventory path '\(configured.datacenterPath)'")
        }
        let list = try await session.properties(of: datacenter, ["datastore"])["datastore"]
        let candidates = (list?.children ?? []).compactMap(ManagedObject.init)
        for candidate in candidates {
            let properties = try await session.properties(of: candidate, ["name", "browser"])
            guard properties["name"]?.text.trimmingCharacters(in: .whitespacesAndNewlines) == configured.name else { continue }
            guard let browser = ManagedObject(properties["browser"]) else {
                throw .remoteServiceUnavailable("\(where_): no datastore browser")
            }
            return VMwareDatastore(datacenterPath: configured.datacenterPath, name: configured.name, weight: configured.weight,
                                   datacenter: datacenter, reference: candidate, browser: browser)
        }
        throw .badStoreConfiguration(store: storeID, reason: "vmware_datastores: could not find \(where_)")
    }

    /// Its summary's capacity and free space (what vCenter knows now).
    func space(of datastore: VMwareDatastore) async throws(StoreError) -> DatastoreSpace {
        let summary = try await session.properties(of: datastore.reference, ["summary"])["summary"]
        guard let summary, let capacity = summary.value("capacity").flatMap(UInt64.init),
              let free = summary.value("freeSpace").flatMap(UInt64.init) else {
            throw .remoteServiceUnavailable("datastore \(datastore.name): no capacity and free space in its summary")
        }
        return DatastoreSpace(capacity: capacity, free: free)
    }

    /// Glance's `select_datastore`: by weight, highest first; within a weight the one with the most
    /// free space, taken if the image fits; else the next weight; none: StorageFull.
    func choose(for size: UInt64) async throws(StoreError) -> VMwareDatastore {
        let datastores = try await all()
        for weight in Set(datastores.map(\.weight)).sorted(by: >) {
            var best: (VMwareDatastore, UInt64)?
            for datastore in datastores where datastore.weight == weight {
                let free = try await space(of: datastore).free
                if free > (best?.1 ?? 0) { best = (datastore, free) }
            }
            if let (datastore, free) = best, free >= size { return datastore }
        }
        throw .storageFull("no datastore of \(datastores.map(\.name).joined(separator: ", ")) has \(size) bytes free")
    }
}
