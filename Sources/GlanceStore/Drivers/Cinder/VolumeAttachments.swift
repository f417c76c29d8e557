import Foundation
import Logging
import Synchronization

/// Read attachments, one per volume, shared by every open reader of its image (a volume that is not
/// multi-attach takes one attachment at a time) and deleted once no reader used it for
/// `idleRelease`, or when the mount ends (`releaseAll`): a mount leaves no attachment behind.
/// A new attachment of a volume whose last one is still being deleted waits for that delete: Cinder
/// refuses a second attachment of a volume that is not multi-attach (a reader opening it just as the
/// idle one went got EBUSY).
final class VolumeAttachments: Sendable {
    let api: CinderAPI
    let transports: VolumeTransports
    let idleRelease: Duration

    struct Attached: Sendable {
        let attachmentID: String
        let device: any VolumeDevice
    }

    private struct Entry {
        let attaching: Task<Attached, any Error>
        var users: Int
        /// Bumped at every acquire, so a release timer knows whether it is still the latest.
        var generation = 0
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Deletes in flight, by volume id (the one started last).
        var detaching: [String: Task<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    init(api: CinderAPI, transports: VolumeTransports, idleRelease: Duration = .seconds(2)) {
        self.api = api
        self.transports = transports
        self.idleRelease = idleRelease
    }

    /// The volume's device for reading, attaching it (read-only) if no reader holds it.
    func acquire(_ volume: CinderVolume, image: String) async throws(StoreError) -> any VolumeDevice {
        let task: Task<Attached, any Error> = state.withLock { s in
            if var entry = s.entries[volume.id] {
                entry.users += 1
                entry.generation += 1
                s.entries[volume.id] = entry
                return entry.attaching
            }
            let api = self.api, transports = self.transports
            let previous = s.detaching[volume.id]
            let attaching = Task { () throws -> Attached in
                await previous?.value
                let (id, connection) = try await Self.attach(api, volume.id, image: image)
                do {
                    let device = try await transports.open(connection, readOnly: true, image: image)
                    return Attached(attachmentID: id, device: device)
                } catch {
                    try? await api.detach(id)
                    throw error
                }
            }
            s.entries[volume.id] = Entry(attaching: attaching, users: 1)
            return attaching
        }
        do {
            return try await task.value.device
        } catch {
            state.withLock { s in
                guard var entry = s.entries[volume.id], entry.attaching == task else { return }
                entry.users -= 1
                s.entries[volume.id] = entry.users == 0 ? nil : entry
            }
            throw (error as? StoreError) ?? .backend("attaching volume \(volume.id): \(error)")
        }
    }

    /// Attaches for reading; a volume Cinder still shows `detaching` (an attachment deleted just
    /// before, ours or another client's) is waited for and attached once more.
    private static func attach(_ api: CinderAPI, _ volumeID: String, image: String) async throws(StoreError) -> (id: String, connection: VolumeConnection) {
        do throws(StoreError) {
            return try await api.attach(volumeID, readOnly: true, image: image)
        } catch {
            guard case .inUseByStore = error, try await api.volume(volumeID, image: image).status == "detaching" else { throw error }
            _ = try await api.waitFor(volumeID, image: image, ["available", "in-use"], what: "detaching")
            return try await api.attach(volumeID, readOnly: true, image: image)
        }
    }

    /// A reader is done; the attachment goes once no reader used it for `idleRelease`.
    func release(_ volumeID: String) {
        let generation: Int? = state.withLock { s in
            guard var entry = s.entries[volumeID] else { return nil }
            entry.users -= 1
            s.entries[volumeID] = entry
            return entry.users == 0 ? entry.generation : nil
        }
        guard let generation else { return }
        Task {
            try? await Task.sleep(for: idleRelease)
            let detaching: Task<Void, Never>? = state.withLock { s in
                guard let entry = s.entries[volumeID], entry.users == 0, entry.generation == generation else { return nil }
                return startDetach(&s, volumeID)
            }
            await detaching?.value
        }
    }

    /// Takes the volume's entry out and starts deleting its attachment, in the critical section
    /// that removed it: an acquire after it finds the delete to wait for.
    private func startDetach(_ s: inout State, _ volumeID: String) -> Task<Void, Never>? {
        guard let entry = s.entries.removeValue(forKey: volumeID) else { return nil }
        let attaching = entry.attaching
        let task = Task { [self] in await detach(attaching, volumeID) }
        s.detaching[volumeID] = task
        Task { [self] in
            await task.value
            state.withLock { s in if s.detaching[volumeID] == task { s.detaching[volumeID] = nil } }
        }
        return task
    }

    /// Every attachment deleted now (the mount is ending).
    func releaseAll() async {
        let deletes = state.withLock { s in
            Array(s.entries.keys).compactMap { startDetach(&s, $0) } + Array(s.detaching.values)
        }
        for task in deletes { await task.value }
    }

    enum Drop { case unattached, detached, inUse }

    /// The volume's read attachment deleted now if no reader uses it (it is only waiting out its idle
    /// time): `.detached` then (Cinder is still detaching it), `.inUse` when a reader of this mount
    /// holds it, `.unattached` when this mount has none.
    func dropIdle(_ volumeID: String) async -> Drop {
        let outcome: (drop: Drop, task: Task<Void, Never>?) = state.withLock { s in
            guard let entry = s.entries[volumeID] else {
                // Its idle time just ended: the delete is under way, waited for.
                return (s.detaching[volumeID] == nil ? .unattached : .detached, s.detaching[volumeID])
            }
            guard entry.users == 0 else { return (.inUse, nil) }
            return (.detached, startDetach(&s, volumeID))
        }
        await outcome.task?.value
        return outcome.drop
    }

    private func detach(_ task: Task<Attached, any Error>, _ volumeID: String) async {
        guard let attached = try? await task.value else { return }
        let id = attached.attachmentID
        do throws(StoreError) {
            try await api.detach(id)
        } catch {
            let api = self.api
            if api.health.retryWhenUp("deleting attachment \(id) of volume \(volumeID)", after: error, { () throws(StoreError) in try await api.detach(id) }) { return }
            api.logger.warning("cannot delete a read attachment", metadata: [
                "store": "\(api.storeID)", "volume": "\(volumeID)", "attachment": "\(id)", "error": "\(error)"])
        }
    }
}
