import Foundation

/// What a container listing says of its objects, turned into images without asking about each:
/// Glance's DLO manifests list as 0 bytes, so their size is the sum of their segments
/// (`<id>-00001`... in the same listing), and segments are not images. SLO manifests list with
/// their real size already.
public enum SwiftListing {
    public struct Entry: Decodable, Sendable {
        public let name: String?
        public let bytes: UInt64?
        public let hash: String?
        public let last_modified: String?
        public let content_type: String?
        public let subdir: String?
    }

    /// The parameter of Content-Type that carries an mtime set through the mount. Container
    /// listings show the Content-Type (a POST updates it), never X-Object-Meta-*: with it an `ls -l`
    /// shows the mtime `rsync -a` set without a HEAD per image.
    public static let mtimeParameter = "glance_storefs_mtime"

    /// Segments as Glance names them: `<image>-00001` (`%05d`, more digits past 99999).
    public static func segmentBase(_ name: String) -> Substring? {
        guard let dash = name.lastIndex(of: "-"), dash > name.startIndex else { return nil }
        let digits = name[name.index(after: dash)...]
        guard digits.count >= 5, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return name[..<dash]
    }

    /// The images of one container's listing (already complete, every page); `remembered` knows
    /// X-Object-Meta-Mtime values learned otherwise (by name and ETag). A `<x>-NNNNN` is a segment when `<x>` is listed (its manifest) or when
    /// `<x>-00001` is (a series without a manifest: an upload in progress or cut short).
    public static func images(_ entries: [Entry], remembered: (String, String?) -> Timestamp? = { _, _ in nil }) -> [ImageInfo] {
        var byName: [String: Entry] = [:]
        for entry in entries { if let name = entry.name { byName[name] = entry } }
        var segmentBytes: [Substring: UInt64] = [:]
        var segments = Set<String>()
        for (name, entry) in byName {
            guard let base = segmentBase(name) else { continue }
            if byName[String(base)] != nil || byName[base + "-00001"] != nil {
                segments.insert(name)
                // Saturating: a listing is what a server says, and may say anything.
                let (sum, overflow) = segmentBytes[base, default: 0].addingReportingOverflow(entry.bytes ?? 0)
                segmentBytes[base] = overflow ? .max : sum
            }
        }
        var images: [ImageInfo] = []
        var listed = Set<String>()
        for entry in entries {
            // Names that cannot be file names are left out (and said so) by the file system; a
            // name a listing repeats (Swift does not; a broken proxy might) is one image.
            guard let name = entry.name, !segments.contains(name), listed.insert(name).inserted else { continue }
            var size = entry.bytes ?? 0
            if size == 0, let total = segmentBytes[Substring(name)] { size = total }
            let time = mtime(contentType: entry.content_type) ?? remembered(name, entry.hash) ?? entry.last_modified.flatMap(parseListingTime) ?? Timestamp(seconds: 0, nanoseconds: 0)
            images.append(ImageInfo(name: name, size: size, modificationTime: time))
        }
        return images
    }

    /// Segment series without a manifest (`<x>-00001`... listed, `<x>` not): uploads in progress
    /// or cut short. Each with its segments and the time of the newest.
    public static func orphanSeries(_ entries: [Entry]) -> [(base: String, segments: [String], newest: Timestamp)] {
        var names = Set<String>()
        for entry in entries { if let name = entry.name { names.insert(name) } }
        var series: [String: (segments: [String], newest: Timestamp)] = [:]
        for entry in entries {
            guard let name = entry.name, let base = segmentBase(name).map(String.init),
                  !names.contains(base), names.contains(base + "-00001") else { continue }
            let time = entry.last_modified.flatMap(parseListingTime) ?? Timestamp(seconds: 0, nanoseconds: 0)
            series[base, default: ([], time)].segments.append(name)
            series[base]!.newest = max(series[base]!.newest, time)
        }
        return series.map { ($0.key, $0.value.segments, $0.value.newest) }.sorted { $0.base < $1.base }
    }

    /// `glance_storefs_mtime=<seconds>.<nanoseconds>` among the Content-Type's parameters.
    public static func mtime(contentType: String?) -> Timestamp? {
        guard let contentType else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces) == mtimeParameter {
                return parseTime(pair[1].trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }

    /// The Content-Type with the mtime parameter set to `time` (others kept).
    public static func contentType(_ contentType: String?, settingMtime time: Timestamp) -> String {
        var parts = (contentType ?? "application/octet-stream").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        if parts.isEmpty || parts[0].isEmpty { parts = ["application/octet-stream"] }
        parts.removeAll { $0.hasPrefix(mtimeParameter + "=") }
        parts.append("\(mtimeParameter)=\(format(time))")
        return parts.joined(separator: ";")
    }

    /// Seconds with nine decimals: what swiftclient and rclone parse as a float, and exact to the ns.
    public static func format(_ time: Timestamp) -> String {
        let ns = String(time.nanoseconds)
        return "\(time.seconds)." + String(repeating: "0", count: 9 - ns.count) + ns
    }

    /// "1600000000.5" (X-Object-Meta-Mtime as swiftclient, rclone and this write it).
    public static func parseTime(_ text: String) -> Timestamp? {
        let parts = text.split(separator: ".", maxSplits: 1)
        guard let first = parts.first, let seconds = Int64(first) else { return nil }
        var nanoseconds: Int32 = 0
        if parts.count == 2 {
            let digits = parts[1].prefix(9)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            nanoseconds = Int32(digits + String(repeating: "0", count: 9 - digits.count))!
        }
        return Timestamp(seconds: seconds, nanoseconds: nanoseconds)
    }

    /// A listing's `last_modified`: "2026-11-25T00:12:30.322550", UTC. Parsed by hand: a listing
    /// has up to 10,000 of them per page, and a DateFormatter costs more than the request.
    public static func parseListingTime(_ text: String) -> Timestamp? {
        let u = Array(text.utf8)
        guard u.count >= 19, u[4] == 45, u[7] == 45, u[10] == 84, u[13] == 58, u[16] == 58 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for i in range { guard (48...57).contains(u[i]) else { return nil }; value = value * 10 + Int(u[i] - 48) }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
              let minute = number(14..<16), let second = number(17..<19), (1...12).contains(month) else { return nil }
        // Days from 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        var time = Timestamp(seconds: Int64(days * 86400 + hour * 3600 + minute * 60 + second), nanoseconds: 0)
        if u.count > 20, u[19] == 46, let fraction = parseTime("0." + String(decoding: u[20...], as: UTF8.self)) {
            time.nanoseconds = fraction.nanoseconds
        }
        return time
    }
}
