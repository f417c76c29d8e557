import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// One element of an XML document, with namespaces resolved away: what vSphere's SOAP answers are
/// read as (libxml2's parser through Foundation; no entity is expanded from outside the document).
public struct XMLNode: Sendable, Equatable {
    /// The local name (`returnval`, not `vim25:returnval`).
    public var name: String
    /// `xsi:type` without its prefix: which vSphere type a polymorphic element holds.
    public var type: String?
    public var attributes: [String: String]
    public var children: [XMLNode]
    public var text: String

    public init(name: String, type: String? = nil, attributes: [String: String] = [:], children: [XMLNode] = [], text: String = "") {
        self.name = name
        self.type = type
        self.attributes = attributes
        self.children = children
        self.text = text
    }

    public func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    public func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    /// The element at the end of `names`, each a child of the one before.
    public func at(_ names: String...) -> XMLNode? {
        var node: XMLNode? = self
        for name in names { node = node?.child(name) }
        return node
    }
    /// The trimmed text of the child `name`.
    public func value(_ name: String) -> String? { child(name).map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) } }
}

public enum XMLTree {
    /// The document's root element; nil when the bytes are not well-formed XML (or nest deeper than
    /// `maxDepth`, which no answer of vSphere does).
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) -> XMLNode? {
        let builder = Builder(maxDepth: maxDepth)
        let parser = XMLParser(data: Data(bytes))
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = builder
        guard parser.parse(), !builder.tooDeep else { return nil }
        return builder.root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        let maxDepth: Int
        var stack: [XMLNode] = []
        var root: XMLNode?
        var tooDeep = false

        init(maxDepth: Int) { self.maxDepth = maxDepth }

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName: String?, attributes: [String: String] = [:]) {
            guard stack.count < maxDepth else {
                tooDeep = true
                parser.abortParsing()
                return
            }
            var type: String?
            var plain: [String: String] = [:]
            for (key, value) in attributes {
                let local = key.split(separator: ":").last.map(String.init) ?? key
                if local == "type" && key.contains(":") {
                    type = value.split(separator: ":").last.map(String.init) ?? value
                } else {
                    plain[local] = value
                }
            }
            stack.append(XMLNode(name: elementName, type: type, attributes: plain))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            guard let node = stack.popLast() else { return }
            if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
        }
    }
}
