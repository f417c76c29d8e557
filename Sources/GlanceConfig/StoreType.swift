/// The store types of Glance's multi-store documentation. The raw value is the exact, case-sensitive
/// string of `enabled_backends` (Glance uses it as the URI scheme to find the driver). glance_store
/// 4.1.0 no longer has sheepdog and cannot use a `vmware` id (its scheme is `vsphere`); both are still
/// store types of ours, with the options of their last Glance drivers.
public enum StoreType: String, Sendable, CaseIterable, Codable {
    case file, http, rbd, swift, cinder, vmware, sheepdog, s3

    /// Options every store group gets (`gs/driver.py`).
    public static let storeDescription = Option<String?>.string("store_description")

    /// The options Glance registers in the group of a store of this type.
    public var schema: [AnyOption] {
        let specific: [AnyOption]
        switch self {
        case .file: specific = FileOptions.all
        case .http: specific = HTTPOptions.all
        case .rbd: specific = RBDOptions.all
        case .swift: specific = SwiftOptions.all
        case .cinder: specific = CinderOptions.all
        case .vmware: specific = VMwareOptions.all
        case .sheepdog: specific = SheepdogOptions.all
        case .s3: specific = S3Options.all
        }
        return [Self.storeDescription.erased] + specific
    }
}
