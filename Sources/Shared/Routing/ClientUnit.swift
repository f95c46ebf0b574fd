/// The two backend links a session may use: the primary, and the session's load-balance node when that is a
/// standby. Everything that writes, and everything poold is unsure of, goes to `.primary`.
public enum Link: Int, Sendable, CaseIterable {
    case primary = 0
    case loadBalance = 1
}

/// A set of links as two bits (no allocation on the hot path).
public struct LinkSet: Equatable, Sendable {
    private var bits: UInt8
    public init(_ link: Link) { bits = 1 << UInt8(link.rawValue) }
    public func contains(_ l: Link) -> Bool { bits & 1 << UInt8(l.rawValue) != 0 }
    public func adding(_ l: Link?) -> LinkSet {
        var c = self
        if let l { c.bits |= 1 << UInt8(l.rawValue) }
        return c
    }
}

/// One unit of client work as routing sees it: the frames from the first one after the previous unit up to
/// and including a Query, a FunctionCall or a Sync. Each unit yields exactly one ReadyForQuery, so a unit
/// is also what a backend link answers in one piece. The shell extracts these parts from the byte stream.
public struct ClientUnit: Sendable {
    public enum Part: Sendable {
        /// Simple Query.
        case query(Classification, text: String)
        /// Parse of a statement (`name` "" is the unnamed statement).
        case parse(name: String, Classification, text: String)
        case bind(portal: String, statement: String)
        case describeStatement(String)
        case execute(portal: String)
        case closeStatement(String)
        case functionCall
    }

    public var parts: [Part]
    /// False when the unit was cut before its Sync (the client sent Flush and waits, or the unit is huge):
    /// the rest of it arrives later and must follow the same link.
    public var complete: Bool

    public init(parts: [Part], complete: Bool = true) {
        self.parts = parts
        self.complete = complete
    }
}

/// Catalog facts about one statement that only the backend knows, supplied by the shell from its caches.
public struct CatalogFacts: Equatable, Sendable {
    /// The statement calls a function that writes (write_function_list, or volatile in pg_proc).
    public var writesByFunction: Bool
    /// It names a temporary, unlogged or system-catalog relation, or matches primary_routing_query_pattern_list.
    public var primaryOnlyRelation: Bool
    /// Names poold has not looked up yet: the statement goes to the primary and the shell learns them.
    public var unknownFunctions: [String]
    public var unknownRelations: [String]

    public init(writesByFunction: Bool = false, primaryOnlyRelation: Bool = false,
                unknownFunctions: [String] = [], unknownRelations: [String] = []) {
        self.writesByFunction = writesByFunction
        self.primaryOnlyRelation = primaryOnlyRelation
        self.unknownFunctions = unknownFunctions
        self.unknownRelations = unknownRelations
    }

    public static let none = CatalogFacts()
}

/// What the shell does with one unit.
///
/// The lists and the rewritten text are empty for almost every unit, so they live together in one optional
/// value: a plan is copied a few times per statement, and a nil `extras` copies without touching a
/// reference count.
public struct UnitPlan: Equatable, Sendable {
    /// The link whose reply the client sees.
    public var forward: Link
    /// The unit also goes to the load-balance link, whose reply is read and dropped (BOTH statements).
    public var copyToLoadBalance: Bool
    /// Read statements in the unit (select_cnt of the forward node).
    public var selects: Int
    /// The unit holds a statement that may write (DML, DDL, a writing function, EXECUTE, two-phase commit).
    public var writes = false
    /// Nil while every field of it is empty.
    private var extras: Extras?

    private struct Extras: Equatable, Sendable {
        var loadBalanceText: String? = nil
        var prepareFirst: [StatementOrder] = []
        var closeElsewhere: [StatementOrder] = []
        var learnFunctions: [String] = []
        var learnRelations: [String] = []
        var isEmpty: Bool {
            loadBalanceText == nil && prepareFirst.isEmpty && closeElsewhere.isEmpty && learnFunctions.isEmpty
                && learnRelations.isEmpty
        }
    }

    private mutating func change(_ body: (inout Extras) -> Void) {
        var e = extras ?? Extras()
        extras = nil
        body(&e)
        extras = e.isEmpty ? nil : e
    }

    /// For a simple-query copy: the text the load-balance node gets instead (BEGIN READ WRITE → BEGIN).
    public var loadBalanceText: String? {
        get { extras?.loadBalanceText }
        set { change { $0.loadBalanceText = newValue } }
    }
    /// Statements to Parse on a link (reply dropped) before the unit, because the unit binds them there.
    public var prepareFirst: [StatementOrder] {
        get { extras?.prepareFirst ?? [] }
        set { change { $0.prepareFirst = newValue } }
    }
    /// Statements the unit closes that also exist on a link the unit does not go to: close them there too
    /// (reply dropped), so a later Parse of the same name does not collide.
    public var closeElsewhere: [StatementOrder] {
        get { extras?.closeElsewhere ?? [] }
        set { change { $0.closeElsewhere = newValue } }
    }
    /// Names to look up in the primary's catalog after the unit.
    public var learnFunctions: [String] {
        get { extras?.learnFunctions ?? [] }
        set { change { $0.learnFunctions = newValue } }
    }
    public var learnRelations: [String] {
        get { extras?.learnRelations ?? [] }
        set { change { $0.learnRelations = newValue } }
    }

    public struct StatementOrder: Equatable, Sendable {
        public var link: Link
        public var statement: String
        public init(_ link: Link, _ statement: String) {
            self.link = link
            self.statement = statement
        }
    }

    public init(forward: Link, copyToLoadBalance: Bool = false, loadBalanceText: String? = nil,
                prepareFirst: [StatementOrder] = [], closeElsewhere: [StatementOrder] = [],
                learnFunctions: [String] = [], learnRelations: [String] = [], selects: Int = 0) {
        self.forward = forward
        self.copyToLoadBalance = copyToLoadBalance
        self.selects = selects
        let e = Extras(loadBalanceText: loadBalanceText, prepareFirst: prepareFirst, closeElsewhere: closeElsewhere,
                       learnFunctions: learnFunctions, learnRelations: learnRelations)
        self.extras = e.isEmpty ? nil : e
    }

    /// The links the unit occupies.
    public var links: Set<Link> {
        var s: Set<Link> = [forward]
        if copyToLoadBalance { s.insert(.loadBalance) }
        for o in prepareFirst + closeElsewhere { s.insert(o.link) }
        return s
    }

    /// The unit occupies `forward` alone (no copy, nothing prepared or closed elsewhere first); `links`
    /// without building a set.
    public var occupiesForwardOnly: Bool {
        guard !copyToLoadBalance else { return false }
        guard let extras else { return true }
        return extras.prepareFirst.allSatisfy { $0.link == forward } && extras.closeElsewhere.allSatisfy { $0.link == forward }
    }
}
