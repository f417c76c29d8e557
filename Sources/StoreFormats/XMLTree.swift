import CXML2

/// One element of an XML document, with namespaces resolved away: what vSphere's SOAP answers are
/// read as (libxml2's parser; no entity is expanded, nothing is loaded from outside the document).
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
    /// `maxDepth`, which no answer of vSphere does). libxml2's xmlReader, without network access,
    /// without loading a DTD or substituting entities (entity references are skipped), its own limits on.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) -> XMLNode? {
        guard !bytes.isEmpty, bytes.count < Int(Int32.max) else { return nil }
        _ = initialized
        let options = Int32(bitPattern: XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        return bytes.withUnsafeBufferPointer { buffer -> XMLNode? in
            // The reader reads the buffer in place: it must not outlive this closure.
            let reader = buffer.withMemoryRebound(to: CChar.self) { chars in
                xmlReaderForMemory(chars.baseAddress, Int32(chars.count), nil, nil, options)
            }
            guard let reader else { return nil }
            defer { xmlFreeTextReader(reader) }
            return build(reader, maxDepth: maxDepth)
        }
    }

    /// libxml2's global state, set up once before parsers run on several threads.
    private static let initialized: Void = { xmlInitParser() }()

    private static func build(_ reader: xmlTextReaderPtr, maxDepth: Int) -> XMLNode? {
        var stack: [XMLNode] = []
        var root: XMLNode?
        func close(_ node: XMLNode) -> Bool {
            if stack.isEmpty {
                guard root == nil else { return false }
                root = node
            } else {
                stack[stack.count - 1].children.append(node)
            }
            return true
        }
        while true {
            let status = xmlTextReaderRead(reader)
            if status == 0 { break }
            guard status == 1 else { return nil }
            switch xmlTextReaderNodeType(reader) {
            case Int32(XML_READER_TYPE_ELEMENT.rawValue):
                guard stack.count < maxDepth else { return nil }
                var node = XMLNode(name: text(xmlTextReaderConstLocalName(reader)) ?? "")
                let empty = xmlTextReaderIsEmptyElement(reader) == 1
                while xmlTextReaderMoveToNextAttribute(reader) == 1 {
                    guard xmlTextReaderIsNamespaceDecl(reader) != 1, let local = text(xmlTextReaderConstLocalName(reader)) else { continue }
                    let value = text(xmlTextReaderConstValue(reader)) ?? ""
                    if local == "type", xmlTextReaderConstPrefix(reader) != nil {
                        node.type = value.split(separator: ":").last.map(String.init) ?? value
                    } else {
                        node.attributes[local] = value
                    }
                }
                _ = xmlTextReaderMoveToElement(reader)
                if empty {
                    guard close(node) else { return nil }
                } else {
                    stack.append(node)
                }
            case Int32(XML_READER_TYPE_END_ELEMENT.rawValue):
                guard let node = stack.popLast(), close(node) else { return nil }
            case Int32(XML_READER_TYPE_TEXT.rawValue), Int32(XML_READER_TYPE_CDATA.rawValue),
                 Int32(XML_READER_TYPE_SIGNIFICANT_WHITESPACE.rawValue):
                if !stack.isEmpty { stack[stack.count - 1].text += text(xmlTextReaderConstValue(reader)) ?? "" }
            default:
                continue
            }
        }
        return stack.isEmpty ? root : nil
    }

    private static func text(_ pointer: UnsafePointer<xmlChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
