import GlanceConfig
import GlanceStore

extension StorefsCLI {
    /// Validates and summarises: the stores in order with their types, the default, the reserved
    /// datadirs. Warnings go to stderr; errors make the exit status 1.
    static func check(_ inputs: [ConfigInput], home: String) -> CommandOutput {
        let configuration: GlanceConfiguration
        switch loadConfiguration(inputs, home: home) {
        case .failure(let output): return output
        case .success(let c): configuration = c
        }
        var out = CommandOutput()
        out.stderr = configuration.warnings.map { $0.description + "\n" }.joined()
        out.stdout = summary(configuration)
        return out
    }

    static func summary(_ c: GlanceConfiguration) -> String {
        var lines = ["configuration OK: \(c.source.files.joined(separator: ", "))"]
        lines.append("stores (\(c.stores.count), default \(c.defaultStoreID)):")
        let width = c.stores.map(\.id.count).max() ?? 0
        for store in c.stores {
            var line = "  " + store.id.padding(toLength: width, withPad: " ", startingAt: 0)
                + "  " + store.type.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            line += "  " + detail(store)
            var notes: [String] = []
            if store.id == c.defaultStoreID { notes.append("default") }
            if store.type == .http { notes.append("read-only") }
            if StoreRegistry.drivers[store.type] == nil { notes.append("no driver in this build: not mounted") }
            if !notes.isEmpty { line += "  (" + notes.joined(separator: ", ") + ")" }
            if let description = store.description { line += "  \"\(description)\"" }
            lines.append(line)
        }
        let catalogue = c.catalogue
        lines.append("Glance's catalogue (user.glance.image.*, audit): " + (catalogue.unusableReason.map { "not asked: \($0)" }
            ?? "the image endpoint of \(catalogue.authURL ?? "?") as \(catalogue.credentials.map { "\($0)" } ?? "?")"))
        lines.append("reserved stores (never shown):")
        for store in c.reserved {
            lines.append("  \(store.id)  \(store.file!.directories.map(\.path).joined(separator: ", "))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func detail(_ store: StoreDefinition) -> String {
        if let http = store.http { return http.indexURLs.map { URLText.redacted($0) }.joined(separator: ", ") }
        if store.type == .rbd { return RBDStore.summary(store) }
        if store.type == .swift { return SwiftStore.summary(store) }
        if store.type == .cinder { return CinderStore.summary(store) }
        if store.type == .vmware { return VMwareStore.summary(store) }
        if store.type == .sheepdog { return SheepdogStore.summary(store) }
        guard let file = store.file else { return "" }
        return file.directories.map { file.usesDatadirs ? "\($0.path):\($0.priority)" : $0.path }.joined(separator: ", ")
    }
}
