import Foundation
import StoreFormats

/// What glance-storefs keeps in an image directory besides the images (Glance never lists the
/// directory; it only opens `<image_dir>/<id>`):
/// - `.storefs-partial.<random>.<id>`: an upload in progress, moved to `<id>` when complete;
/// - `.storefs-mtime.<seconds>.<nanoseconds>.<id>`: an empty file that keeps the modification time
///   set on image `<id>` (a datastore file's own time cannot be set). It counts only while it is at
///   least as new as the image's data: an image written again later (by Glance, say) shows its own
///   time again.
enum ImageDirectoryNames {
    enum Kind: Equatable {
        case image(String)
        case partial(image: String)
        case modificationTime(image: String, time: Timestamp)
        /// Ours, but not understood (a later version's): left alone, not shown.
        case other
    }

    static let partialPrefix = ".storefs-partial."
    static let timePrefix = ".storefs-mtime."

    static func partial(for image: String) -> String {
        partialPrefix + UUID().uuidString.prefix(8).lowercased() + "." + image
    }

    static func modificationTime(_ time: Timestamp, for image: String) -> String {
        timePrefix + "\(time.seconds).\(time.nanoseconds)." + image
    }

    static func kind(of file: String) -> Kind {
        if file.hasPrefix(partialPrefix) {
            let rest = file.dropFirst(partialPrefix.count)
            guard let dot = rest.firstIndex(of: "."), rest.index(after: dot) < rest.endIndex else { return .other }
            return .partial(image: String(rest[rest.index(after: dot)...]))
        }
        if file.hasPrefix(timePrefix) {
            let parts = file.dropFirst(timePrefix.count).split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let seconds = Int64(parts[0]), let nanoseconds = Int32(parts[1]),
                  (0..<1_000_000_000).contains(nanoseconds), !parts[2].isEmpty else { return .other }
            return .modificationTime(image: String(parts[2]), time: Timestamp(seconds: seconds, nanoseconds: nanoseconds))
        }
        if file.hasPrefix(".storefs-") { return .other }
        return .image(file)
    }
}
