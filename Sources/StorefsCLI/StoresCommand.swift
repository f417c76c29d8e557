import Foundation
import GlanceConfig
import GlanceStore

extension StorefsCLI {
    /// Exactly what Glance's `GET /v2/info/stores` returns for the configuration (reference §2.1);
    /// `--detail` is `GET /v2/info/stores/detail` (§2.2). Never a secret: only ids, descriptions,
    /// types and the non-secret properties Glance itself shows.
    static func stores(_ inputs: [ConfigInput], detail: Bool, home: String) -> CommandOutput {
        switch loadConfiguration(inputs, home: home) {
        case .failure(let output): return output
        case .success(let configuration):
            return CommandOutput(stdout: storesJSON(configuration, detail: detail) + "\n")
        }
    }

    /// Python's json.dumps layout (", " and ": "), key order as Glance builds the dicts.
    public static func storesJSON(_ c: GlanceConfiguration, detail: Bool) -> String {
        let entries = c.stores.map { store -> JSON in
            var fields: [(String, JSON)] = [("id", .string(store.id))]
            if let description = store.description { fields.append(("description", .string(description))) }
            if store.id == c.defaultStoreID { fields.append(("default", .string("true"))) }
            if store.type == .http { fields.append(("read-only", .string("true"))) }
            if detail {
                fields.append(("type", .string(store.type.rawValue)))
                fields.append(("properties", .object(properties(store))))
            }
            return .object(fields)
        }
        return JSON.object([("stores", .array(entries))]).rendered
    }

    /// The `store_mapper` of glance's discovery.py, with values as the driver holds them.
    static func properties(_ store: StoreDefinition) -> [(String, JSON)] {
        var d = Diagnostics()  // validated already; defaults where unset
        let s = store.section
        switch store.type {
        case .file:
            let file = store.file!
            // Glance's data_dir is `store.datadir`; with datadirs it has none (and answers 500):
            // we give the directory new images would go to, as Glance's url_prefix does.
            let best = file.directories.sorted { $0.priority > $1.priority }.first?.path ?? ""
            return [("data_dir", .string(best)), ("chunk_size", .int(file.chunkSize)),
                    ("thin_provisioning", .bool(file.thinProvisioning))]
        case .rbd:
            return [("chunk_size", .int((s.read(RBDOptions.chunkSizeMiB, into: &d).value ?? 8) << 20)),
                    ("pool", .string(s.read(RBDOptions.pool, into: &d).value ?? "images")),
                    ("thin_provisioning", .bool(s.read(RBDOptions.thinProvisioning, into: &d).value))]
        case .cinder:
            return [("volume_type", s.read(CinderOptions.volumeType, into: &d).value.map(JSON.string) ?? .null),
                    ("use_multipath", .bool(s.read(CinderOptions.useMultipath, into: &d).value))]
        case .swift:
            return [("container", .string(s.read(SwiftOptions.container, into: &d).value ?? "glance")),
                    ("large_object_size", .int((s.read(SwiftOptions.largeObjectSizeMB, into: &d).value ?? 5120) * SwiftOptions.megabyte)),
                    ("large_object_chunk_size", .int((s.read(SwiftOptions.largeObjectChunkSizeMB, into: &d).value ?? 200) * SwiftOptions.megabyte))]
        case .s3:
            return [("s3_store_large_object_size", .int((s.read(S3Options.largeObjectSizeMiB, into: &d).value ?? 100) << 20)),
                    ("s3_store_large_object_chunk_size", .int((s.read(S3Options.largeObjectChunkSizeMiB, into: &d).value ?? 10) << 20)),
                    ("s3_store_thread_pools", .int(s.read(S3Options.threadPools, into: &d).value ?? 10))]
        case .http, .vmware, .sheepdog:
            return []
        }
    }
}

/// Just enough JSON to print Glance's answers byte for byte, in Python's layout.
enum JSON {
    case string(String), int(Int), bool(Bool), null
    case array([JSON])
    case object([(String, JSON)])

    var rendered: String {
        switch self {
        case .string(let s): return Self.quote(s)
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map(\.rendered).joined(separator: ", ") + "]"
        case .object(let fields):
            return "{" + fields.map { Self.quote($0.0) + ": " + $0.1.rendered }.joined(separator: ", ") + "}"
        }
    }

    /// json.dumps with ensure_ascii=True: non-ASCII as \uXXXX (surrogate pairs above the BMP).
    static func quote(_ s: String) -> String {
        var out = "\""
        for unit in s.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(unit)!)
            default: out += String(format: "\\u%04x", unit)
            }
        }
        return out + "\""
    }
}
