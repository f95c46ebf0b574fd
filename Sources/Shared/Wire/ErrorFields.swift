import NIOCore

/// The fields of an ErrorResponse or NoticeResponse, keyed by their one-byte codes.
/// Kept in wire order so a re-encoded message is byte-identical.
public struct ErrorFields: Equatable, Sendable {
    public var fields: [(UInt8, String)]

    public init(fields: [(UInt8, String)]) { self.fields = fields }

    /// The shape poold uses for its own errors: severity (localised and not), SQLSTATE, message.
    public init(severity: String, code: String, message: String, detail: String? = nil, hint: String? = nil) {
        var f: [(UInt8, String)] = [
            (UInt8(ascii: "S"), severity), (UInt8(ascii: "V"), severity),
            (UInt8(ascii: "C"), code), (UInt8(ascii: "M"), message),
        ]
        if let detail { f.append((UInt8(ascii: "D"), detail)) }
        if let hint { f.append((UInt8(ascii: "H"), hint)) }
        self.fields = f
    }

    public subscript(code: Character) -> String? {
        let c = code.asciiValue!
        return fields.first(where: { $0.0 == c })?.1
    }

    public var severity: String { self["V"] ?? self["S"] ?? "" }
    public var sqlState: String { self["C"] ?? "" }
    public var message: String { self["M"] ?? "" }

    /// The non-localised severity (`V`, else `S`) of an ErrorResponse body, without decoding the rest.
    public static func severity(in body: ByteBuffer) -> String {
        var b = body
        var fallback = ""
        while let code = b.readInteger(as: UInt8.self), code != 0, let v = b.readCString() {
            if code == UInt8(ascii: "V") { return v }
            if code == UInt8(ascii: "S") { fallback = v }
        }
        return fallback
    }

    /// The SQLSTATE (`C`) of an ErrorResponse body.
    public static func code(in body: ByteBuffer) -> String? {
        var b = body
        while let code = b.readInteger(as: UInt8.self), code != 0, let v = b.readCString() {
            if code == UInt8(ascii: "C") { return v }
        }
        return nil
    }

    static func decode(_ b: inout ByteBuffer) throws -> ErrorFields {
        var out: [(UInt8, String)] = []
        while let code = b.readInteger(as: UInt8.self), code != 0 {
            guard let v = b.readCString() else { throw WireError.malformed("error field") }
            out.append((code, v))
        }
        return ErrorFields(fields: out)
    }

    func encode(into b: inout ByteBuffer) {
        for (c, v) in fields { b.writeInteger(c); b.writeCString(v) }
        b.writeInteger(UInt8(0))
    }

    public static func == (lhs: ErrorFields, rhs: ErrorFields) -> Bool {
        lhs.fields.elementsEqual(rhs.fields, by: { $0 == $1 })
    }
}
