import Foundation

/// The entries of a directory index page: nginx's JSON autoindex (`autoindex_format json`) or the
/// HTML pages nginx, Apache and lighttpd generate (links to the files, relative to the page).
public enum IndexPage {
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let url: String
    }

    public static func entries(_ body: [UInt8], contentType: String?, pageURL: String) -> (entries: [Entry], skipped: [String]) {
        let base = directoryURL(pageURL)
        var entries: [Entry] = [], skipped: [String] = []
        func add(_ href: String) {
            guard let url = URL(string: href, relativeTo: base)?.absoluteURL else { skipped.append(href); return }
            // Only what is below the index itself: not the parent, not sort links, not other directories.
            guard url.query == nil, url.absoluteString.hasPrefix(base.absoluteString), !url.absoluteString.hasSuffix("/") else { return }
            let name = url.lastPathComponent
            if (try? ImageName.validate(name)) == nil { skipped.append(name); return }
            if !entries.contains(where: { $0.name == name }) { entries.append(Entry(name: name, url: url.absoluteString)) }
        }
        let isJSON = contentType?.lowercased().contains("json") ?? false || body.first == UInt8(ascii: "[")
        if isJSON, let items = try? JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]] {
            for item in items where (item["type"] as? String ?? "file") == "file" {
                if let name = item["name"] as? String {
                    // The name as it is: made into a URL, a '/' or '..' would name another file.
                    if ImageName.problem(name) != nil { skipped.append(name); continue }
                    add(name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: ";?#"))) ?? name)
                }
            }
            return (entries, skipped)
        }
        for href in hrefs(String(decoding: body, as: UTF8.self)) { add(href) }
        return (entries, skipped)
    }

    /// The directory the page lists, so relative links resolve below it: the URL itself when it
    /// ends in '/' or names a directory without one (`.../images`, which servers redirect), the
    /// URL's directory when it names a file (`.../index.html`, `.../images.json`: a page made by a tool).
    static func directoryURL(_ page: String) -> URL {
        guard var components = URLComponents(string: page) else { return URL(string: page)! }
        components.query = nil
        components.fragment = nil
        var path = components.path
        if !path.hasSuffix("/") {
            if let slash = path.lastIndex(of: "/"), path[slash...].contains(".") {
                path = String(path[...slash])
            } else {
                path += "/"
            }
        }
        components.path = path
        return components.url ?? URL(string: page)!
    }

    /// `href` attribute values of `<a>` elements, entities decoded.
    static func hrefs(_ html: String) -> [String] {
        var result: [String] = []
        var rest = html[...]
        while let a = rest.range(of: "<a ", options: .caseInsensitive) {
            rest = rest[a.upperBound...]
            guard let close = rest.firstIndex(of: ">") else { break }
            let tag = rest[..<close]
            if let h = tag.range(of: "href=", options: .caseInsensitive) {
                var value = tag[h.upperBound...]
                let quote = value.first
                if quote == "\"" || quote == "'" {
                    value = value.dropFirst()
                    value = value.prefix { $0 != quote }
                } else {
                    value = value.prefix { !$0.isWhitespace }
                }
                result.append(String(value).replacingOccurrences(of: "&amp;", with: "&")
                    .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
                    .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">"))
            }
            rest = rest[close...]
        }
        return result
    }
}
