/// What a listing or stat knows of one image.
public struct ImageInfo: Sendable, Equatable {
    public let name: String
    public let size: UInt64
    public let modificationTime: Timestamp

    public init(name: String, size: UInt64, modificationTime: Timestamp) {
        self.name = name
        self.size = size
        self.modificationTime = modificationTime
    }
}

/// Image names are file names: what a store may hold and the mount may show.
public enum ImageName {
    public static func validate(_ name: String) throws(StoreError) {
        if problem(name) != nil { throw .invalidImageName(name) }
    }

    /// Why a name a store holds cannot be a file name of the mount; nil when it can.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "empty" }
        if name == "." || name == ".." { return "'.' and '..' name directories" }
        if name.contains("/") { return "a '/' separates directories" }
        if name.contains("\0") { return "a NUL byte" }
        if name.utf8.count > 255 { return "\(name.utf8.count) bytes: a file name has 255 at most" }
        return nil
    }
}
