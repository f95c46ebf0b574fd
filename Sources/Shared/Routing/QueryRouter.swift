/// Where one statement goes.
public enum RouteDecision: Equatable, Sendable {
    case primary
    /// The session's load-balance node (which may be the primary).
    case loadBalanceNode(Int)
    /// The primary and the load-balance node (transaction control, SET), so both sessions stay alike.
    case both(loadBalanceNode: Int)
}

/// `disable_load_balance_on_write`.
public enum WritePolicy: String, Sendable {
    case transaction, transTransaction = "trans_transaction", always, off, dmlAdaptive = "dml_adaptive"
}

/// The per-session routing rules of Pgpool-II (reference §2.2–2.3): which statements may go to the
/// load-balance node given what the session and its transaction have done. Facts that need catalog
/// lookups or replication delay come in as parameters.
public struct QueryRouter: Sendable {
    public let primary: Int
    public let loadBalanceNode: Int
    public let policy: WritePolicy

    /// Inside an explicit transaction (BEGIN seen or ReadyForQuery 'T'/'E').
    public private(set) var inTransaction = false
    /// This transaction wrote (DML/DDL or a writing function).
    public private(set) var transactionWrote = false
    public private(set) var transactionFailed = false
    public private(set) var transactionSerializable = false
    /// Some explicit transaction of this session wrote (trans_transaction) / anything wrote (always).
    public private(set) var sessionWroteInTransaction = false
    public private(set) var sessionWrote = false
    /// Tables written in this transaction (dml_adaptive).
    public private(set) var writtenTables: Set<String> = []
    /// A write outside a known transaction: if the next ReadyForQuery says 'T' (BEGIN; UPDATE … in one
    /// string), the transaction it opened has written.
    private var writeAwaitingStatus = false

    public init(primary: Int, loadBalanceNode: Int, policy: WritePolicy) {
        self.primary = primary
        self.loadBalanceNode = loadBalanceNode
        self.policy = policy
    }

    /// Decides one statement. `writesByFunction`: it calls a writing function; `touchesPrimaryOnlyRelation`:
    /// a temp, unlogged or system-catalog relation, or primary_routing_query_pattern_list matched;
    /// `standbyTooFarBehind`: the load-balance node exceeds delay_threshold.
    public mutating func route(_ c: Classification, writesByFunction: Bool = false, touchesPrimaryOnlyRelation: Bool = false,
                               standbyTooFarBehind: Bool = false) -> RouteDecision {
        switch c.destination {
        case .primary:
            if case .begin = c.kind { inTransaction = true }
            // SET TRANSACTION … SERIALIZABLE / READ WRITE reached the primary only: the rest of this
            // transaction must not read from a standby whose transaction does not have those settings.
            if c.kind == .setReadWriteOrSerializable, inTransaction { transactionSerializable = true }
            if c.kind == .write || c.multiStatement && c.kind != .read { noteWrite(c) }
            return .primary
        case .both:
            if case .begin(_, let serializable) = c.kind {
                inTransaction = true
                transactionSerializable = serializable
            }
            return loadBalanceNode == primary ? .primary : .both(loadBalanceNode: loadBalanceNode)
        case .either:
            guard c.isLoadBalanceable, !writesByFunction else {
                if writesByFunction { noteWrite(c) }
                return .primary
            }
            if touchesPrimaryOnlyRelation || standbyTooFarBehind { return .primary }
            if inTransaction {
                if transactionFailed || transactionSerializable { return .primary }
                switch policy {
                case .transaction, .transTransaction: if transactionWrote || (policy == .transTransaction && sessionWroteInTransaction) { return .primary }
                case .always: if sessionWrote { return .primary }
                case .dmlAdaptive: if c.relations.contains(where: writtenTables.contains) { return .primary }
                case .off: break
                }
            } else if policy == .always, sessionWrote {
                return .primary
            }
            return .loadBalanceNode(loadBalanceNode)
        }
    }

    private mutating func noteWrite(_ c: Classification) {
        sessionWrote = true
        writtenTables.formUnion(c.relations)
        if inTransaction {
            transactionWrote = true
            sessionWroteInTransaction = true
        } else {
            writeAwaitingStatus = true
        }
    }

    /// The transaction status of the primary's ReadyForQuery ends or confirms the transaction.
    public mutating func readyForQueryReceived(_ status: TransactionStatus) {
        defer { writeAwaitingStatus = false }
        switch status {
        case .idle:
            inTransaction = false
            transactionWrote = false
            transactionFailed = false
            transactionSerializable = false
            writtenTables.removeAll()
        case .inTransaction:
            inTransaction = true
            if writeAwaitingStatus {
                transactionWrote = true
                sessionWroteInTransaction = true
            }
        case .failed:
            inTransaction = true
            transactionFailed = true
        }
    }
}
