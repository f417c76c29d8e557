import Foundation

/// What a swift store does to objects that may be large: delete, rename and utimens as Glance's
/// layout needs them (segments first or along), all inside Swift.
extension SwiftStore {
    // MARK: Deleting

    public func delete(_ name: String) async throws(StoreError) {
        try ImageName.validate(name)
        forget(name)
        try await remove(container(for: name), name)
    }

    /// As Glance's `delete`: an SLO with `multipart-manifest=delete`; a DLO's segments, then its manifest.
    func remove(_ container: String, _ name: String) async throws(StoreError) {
        let path = SwiftAccount.objectPath(container, name)
        let head = try await account.request(.HEAD, path)
        if head.status == 404 { throw .notFound(image: name) }
        guard head.ok else { throw Self.error(head, "HEAD \(container)/\(name)") }
        if head.header("X-Static-Large-Object")?.lowercased() == "true" {
            let reply = try await account.request(.DELETE, path, query: "multipart-manifest=delete")
            guard reply.ok || reply.status == 404 else { throw Self.error(reply, "deleting \(container)/\(name)") }
            return
        }
        if let manifest = head.header("X-Object-Manifest") {
            let value = manifest.removingPercentEncoding ?? manifest
            if let slash = value.firstIndex(of: "/") {
                let segmentContainer = String(value[..<slash]), prefix = String(value[value.index(after: slash)...])
                let names = try await segments(segmentContainer, prefix: prefix, of: container)
                try await deleteObjects(segmentContainer, names)
            }
        }
        let reply = try await account.request(.DELETE, path)
        if reply.status == 404 { throw .notFound(image: name) }
        guard reply.ok else { throw Self.error(reply, "deleting \(container)/\(name)") }
    }

    /// The segments of a DLO: every object under its prefix, as Swift joins them. In the image's
    /// own container (Glance's layout) only `<prefix>NNNNN`: `<id>-` is also the prefix of any image
    /// named `<id>-something`, which Glance's delete would take along.
    func segments(_ segmentContainer: String, prefix: String, of container: String) async throws(StoreError) -> [String] {
        let names = try await listing(segmentContainer, prefix: prefix).compactMap(\.name)
        guard segmentContainer == container else { return names }
        return names.filter { name in
            let rest = name.dropFirst(prefix.count)
            return !rest.isEmpty && rest.allSatisfy { $0.isASCII && $0.isNumber }
        }
    }

    /// Several at once; one already gone is fine.
    func deleteObjects(_ container: String, _ names: [String]) async throws(StoreError) {
        try await forEach(names) { name throws(StoreError) in
            let reply = try await self.account.request(.DELETE, SwiftAccount.objectPath(container, name))
            guard reply.ok || reply.status == 404 else { throw Self.error(reply, "deleting \(container)/\(name)") }
        }
    }

    /// `body` for every element, `parallelRequests` at a time; the first error is thrown once all ended.
    func forEach<T: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) async throws(StoreError) -> Void) async throws(StoreError) {
        let failure = await withTaskGroup(of: StoreError?.self) { group -> StoreError? in
            var next = 0, failure: StoreError?
            func start() {
                guard next < items.count else { return }
                let item = items[next]
                next += 1
                group.addTask { do throws(StoreError) { try await body(item); return nil } catch { return error } }
            }
            for _ in 0..<Self.parallelRequests { start() }
            while let result = await group.next() {
                if let result, failure == nil { failure = result }
                start()
            }
            return failure
        }
        if let failure { throw failure }
    }

    // MARK: Renaming

    /// rsync's temp-file rename, done inside Swift (server-side copies, no data through this
    /// process): a plain object is copied, a DLO's segments are copied to `<new>-00001`... (Glance's
    /// layout) and a new manifest written last, an SLO's manifest is copied (its segments stay).
    /// Then the old name goes.
    public func rename(_ name: String, to newName: String, replacing: Bool) async throws(StoreError) {
        try ImageName.validate(name)
        try ImageName.validate(newName)
        forget(name, newName)
        let from = container(for: name), to = container(for: newName)
        let head = try await account.request(.HEAD, SwiftAccount.objectPath(from, name))
        if head.status == 404 { throw .notFound(image: name) }
        guard head.ok else { throw Self.error(head, "HEAD \(from)/\(name)") }
        if name == newName { return }
        let existing = try await account.request(.HEAD, SwiftAccount.objectPath(to, newName))
        if existing.ok {
            guard replacing else { throw .duplicate(image: newName) }
            // A plain object over a plain object: the copy replaces it in one step. Anything with
            // segments goes first, segments included (its name's segments are about to be rewritten).
            if Self.isLargeObject(existing) || Self.isLargeObject(head) { try await remove(to, newName) }
        }
        try await ensure(to)
        let source = "/" + SwiftAccount.objectPath(from, name)
        let target = SwiftAccount.objectPath(to, newName)
        if head.header("X-Static-Large-Object")?.lowercased() == "true" {
            try await copy(source + "?multipart-manifest=get", to: target, query: "multipart-manifest=put")
            let reply = try await account.request(.DELETE, SwiftAccount.objectPath(from, name))
            guard reply.ok || reply.status == 404 else { throw Self.error(reply, "deleting \(from)/\(name)") }
        } else if let manifest = head.header("X-Object-Manifest") {
            let value = manifest.removingPercentEncoding ?? manifest
            guard let slash = value.firstIndex(of: "/") else { throw .backend("\(from)/\(name): bad X-Object-Manifest") }
            let segmentContainer = String(value[..<slash]), prefix = String(value[value.index(after: slash)...])
            let segments = try await segments(segmentContainer, prefix: prefix, of: from)
            let copies = segments.enumerated().map { (index, segment) in
                ("/" + SwiftAccount.objectPath(segmentContainer, segment), SwiftAccount.objectPath(to, String(format: "%@-%05d", newName, index + 1)))
            }
            try await forEach(copies) { (source, target) throws(StoreError) in try await self.copy(source, to: target) }
            var headers = Self.keptHeaders(head)
            headers.append(("X-Object-Manifest", SwiftAccount.encode(to) + "/" + SwiftAccount.encode(newName + "-")))
            let put = try await account.request(.PUT, target, headers: headers)
            guard put.ok else { throw Self.error(put, "writing the manifest \(to)/\(newName)") }
            try await remove(from, name)
        } else {
            try await copy(source, to: target)
            let reply = try await account.request(.DELETE, SwiftAccount.objectPath(from, name))
            guard reply.ok || reply.status == 404 else { throw Self.error(reply, "deleting \(from)/\(name)") }
        }
    }

    static func isLargeObject(_ head: SwiftAccount.Reply) -> Bool {
        head.header("X-Object-Manifest") != nil || head.header("X-Static-Large-Object")?.lowercased() == "true"
    }

    /// A server-side copy (PUT with X-Copy-From): metadata and Content-Type go along.
    private func copy(_ source: String, to target: String, query: String? = nil) async throws(StoreError) {
        let reply = try await account.request(.PUT, target, query: query, headers: [("X-Copy-From", source)])
        guard reply.ok else { throw Self.error(reply, "copying \(source) to \(target)") }
    }

    /// What a POST or a new manifest must carry over: a POST replaces all of an object's metadata.
    static func keptHeaders(_ head: SwiftAccount.Reply) -> [(String, String)] {
        head.headers.filter { name, _ in
            let lower = name.lowercased()
            return lower.hasPrefix("x-object-meta-") || ["content-type", "content-disposition", "content-encoding", "x-delete-at"].contains(lower)
        }.map { ($0.name, $0.value) }
    }

    // MARK: Metadata

    /// utimens: X-Object-Meta-Mtime (as swiftclient and rclone) and the same in Content-Type (the
    /// one the listing shows). A POST replaces the metadata, so the rest (a DLO's manifest header
    /// included) is sent again.
    public func setModificationTime(_ name: String, to time: Timestamp) async throws(StoreError) {
        try ImageName.validate(name)
        forget(name)
        let path = SwiftAccount.objectPath(container(for: name), name)
        let head = try await account.request(.HEAD, path)
        if head.status == 404 { throw .notFound(image: name) }
        guard head.ok else { throw Self.error(head, "HEAD \(name)") }
        var headers = Self.keptHeaders(head).filter { !["content-type", "x-object-meta-mtime"].contains($0.0.lowercased()) }
        headers.append(("X-Object-Meta-Mtime", SwiftListing.format(time)))
        headers.append(("Content-Type", SwiftListing.contentType(head.header("Content-Type"), settingMtime: time)))
        if let manifest = head.header("X-Object-Manifest") { headers.append(("X-Object-Manifest", manifest)) }
        let reply = try await account.request(.POST, path, headers: headers)
        guard reply.ok else { throw Self.error(reply, "setting the mtime of \(name)") }
    }
}
