/// Routes one session's units between its primary link and its load-balance link (reference §2), and keeps
/// what that needs: the transaction rules (`QueryRouter`), temporary tables, which prepared statements and
/// portals exist on which link, and each link's last transaction status. Pure: the shell feeds it units and
/// ReadyForQuery statuses and carries out the plans.
///
/// Safety rules beyond Pgpool-II's table:
/// - A unit goes to the load-balance link only while both links report the same transaction status, so the
///   client never sees a standby's status that contradicts its transaction.
/// - A unit that mixes destinations goes to the primary alone; if it changed session state there (SET,
///   DISCARD, PREPARE…) the session is pinned to the primary for the rest of its life.
/// - A BOTH statement that fails only on the load-balance node pins the session too.
public struct SessionRouter: Sendable {
    /// The session has a load-balance link distinct from its primary link.
    public let hasLoadBalanceLink: Bool
    /// Everything goes to the primary from now on; the shell may release the load-balance link.
    public private(set) var pinned = false
    public private(set) var rules: QueryRouter
    public private(set) var tempTables = TempTableTracker()
    private let traceTempTables: Bool
    /// Last ReadyForQuery status per link.
    public private(set) var status: [TransactionStatus] = [.idle, .idle]
    /// Extended-protocol statements (unnamed is "") and the links where they exist.
    public private(set) var statements: [String: PreparedStatement] = [:]
    private var portals: [String: Link] = [:]
    /// The link of the previous unit: a unit with nothing to route (a lone Sync) follows it.
    public private(set) var lastForward: Link = .primary
    /// Kind of the last transaction-ending statement, to tell commit from rollback for temp tables.
    private var lastEnding: StatementKind?
    /// The link of an extended batch whose Sync has not been sent yet (the client sent Flush and waits, as
    /// asyncpg does with Parse/Describe/Flush): every message up to and including that Sync goes to the
    /// same link, or the link that got the start would hold its implicit transaction (and locks) forever.
    public private(set) var openBatch: Link?

    public struct PreparedStatement: Equatable, Sendable {
        public var classification: Classification
        public var links: LinkSet
    }

    public init(primary: Int, loadBalanceNode: Int?, policy: WritePolicy, traceTempTables: Bool = true) {
        let lb = loadBalanceNode ?? primary
        self.hasLoadBalanceLink = lb != primary
        self.rules = QueryRouter(primary: primary, loadBalanceNode: lb, policy: policy)
        self.traceTempTables = traceTempTables
    }

    /// Stops using the load-balance link (also when it is lost: a BOTH unit out on it is not compared).
    public mutating func pin() {
        pinned = true
        bothPending = false
    }

    /// A BOTH unit is out on both links; how it ends on each is compared once both are quiet.
    public private(set) var bothPending = false
    private var bothFailedOnPrimary = false
    private var bothFailedOnStandby = false

    /// The shell sent the unit to both links.
    public mutating func bothSent() {
        bothPending = true
        bothFailedOnPrimary = false
        bothFailedOnStandby = false
    }

    /// A link's reply to a unit carried an ErrorResponse.
    public mutating func unitFailed(on link: Link) {
        guard bothPending else { return }
        if link == .primary { bothFailedOnPrimary = true } else { bothFailedOnStandby = true }
    }

    /// Nothing is in flight on either link: a BOTH unit that failed only on the standby pins the session.
    public mutating func linksQuiet() {
        guard bothPending else { return }
        bothPending = false
        bothFinished(primaryFailed: bothFailedOnPrimary, loadBalanceFailed: bothFailedOnStandby)
    }

    /// Decides `unit`. `facts` gives catalog knowledge for a load-balanceable statement; `standbyLagging`
    /// says the load-balance node is beyond delay_threshold; `mayUseStandby` is asked only for a unit that
    /// would go to the standby (read-your-writes), and false keeps it on the primary.
    public mutating func plan(_ unit: ClientUnit, standbyLagging: Bool = false, mayUseStandby: () -> Bool = { true },
                              facts: (Classification) -> CatalogFacts = { _ in .none }) -> UnitPlan {
        /// What the unit's statements decided, summarised (no array on the hot path).
        var decided = 0
        var allLoadBalance = true
        var allBoth = true
        var sessionStateChange = false
        var forced: Link? = unit.complete || unit.parts.isEmpty ? nil : .primary
        var parsedHere: [String: Classification] = [:]
        var usedStatements: [String] = []
        var closed: [String] = []
        var learnFunctions: [String] = []
        var learnRelations: [String] = []
        var loadBalanceText: String? = nil
        var selects = 0
        var writes = false
        var clearsStatements = false

        // Catalog facts (a lock shared by every session) only matter where a statement could go to a standby.
        let mayBalance = hasLoadBalanceLink && !pinned
        func decide(_ c: Classification, text: String?) {
            var f = CatalogFacts.none
            if c.isLoadBalanceable, mayBalance {
                f = facts(c)
                learnFunctions += f.unknownFunctions
                learnRelations += f.unknownRelations
            }
            let unknown = !f.unknownFunctions.isEmpty || !f.unknownRelations.isEmpty
            let temp = traceTempTables && tempTables.references(c.relations)
            var d = rules.route(c, writesByFunction: f.writesByFunction,
                                touchesPrimaryOnlyRelation: f.primaryOnlyRelation || temp || unknown,
                                standbyTooFarBehind: standbyLagging)
            if c.kind == .read { selects += 1 }
            switch c.kind {
            case .write, .other, .twoPhase, .execute: writes = true
            default: if f.writesByFunction { writes = true }
            }
            switch c.kind {
            case .set, .prepare, .deallocate: sessionStateChange = true
            // A session-level read-write/serializable default exists on the primary only.
            case .setReadWriteOrSerializable where !(rules.inTransaction || status[0] != .idle): sessionStateChange = true
            case .commit, .rollback: lastEnding = c.kind
            default: break
            }
            if case .prepare = c.kind { d = hasLoadBalanceLink ? .both(loadBalanceNode: rules.loadBalanceNode) : .primary }
            if case .deallocate(nil) = c.kind { clearsStatements = true }
            if let text, c.kind == .set, text.prefix(12).lowercased().hasPrefix("discard all") { clearsStatements = true }
            if case .begin(let readWrite, let serializable) = c.kind, readWrite || serializable, let text {
                loadBalanceText = StatementClassifier.standbyBegin(text)
            }
            if traceTempTables, let text, c.kind == .write || c.kind == .set || c.kind == .other {
                tempTables.statementSent(text, inTransaction: rules.inTransaction || status[0] != .idle)
            }
            decided += 1
            if case .loadBalanceNode = d {} else { allLoadBalance = false }
            if case .both = d {} else { allBoth = false }
        }

        for part in unit.parts {
            switch part {
            case .query(let c, let text):
                decide(c, text: text)
            case .parse(let name, let c, _):
                parsedHere[name] = c
                decide(c, text: nil)
            case .bind(let portal, let statement):
                portals[portal] = nil
                if parsedHere[statement] == nil {
                    if let s = statements[statement] {
                        decide(s.classification, text: nil)
                        usedStatements.append(statement)
                    } else {
                        forced = .primary
                    }
                }
            case .describeStatement(let statement):
                if parsedHere[statement] == nil {
                    if statements[statement] != nil { usedStatements.append(statement) } else { forced = .primary }
                }
            case .execute(let portal):
                if let link = portals[portal], forced == nil { forced = link }
            case .closeStatement(let name):
                closed.append(name)
            case .functionCall:
                forced = .primary
            }
        }

        if let openBatch { forced = openBatch }
        var plan = UnitPlan(forward: .primary, selects: selects)
        plan.writes = writes
        if !learnFunctions.isEmpty { plan.learnFunctions = learnFunctions }
        if !learnRelations.isEmpty { plan.learnRelations = learnRelations }
        let useLoadBalance = hasLoadBalanceLink && !pinned
        if let forced {
            plan.forward = useLoadBalance ? forced : .primary
        } else if decided == 0 {
            plan.forward = useLoadBalance ? lastForward : .primary
        } else if useLoadBalance, allLoadBalance, status[0] == status[1] {
            plan.forward = mayUseStandby() ? .loadBalance : .primary
        } else if useLoadBalance, allBoth {
            plan.forward = .primary
            var copy = true
            // COMMIT/ABORT is not sent to a standby that is idle (reference §2.6).
            if unit.parts.count == 1, case .query(let c, _) = unit.parts[0], c.kind == .commit || c.kind == .rollback,
               status[Link.loadBalance.rawValue] == .idle {
                copy = false
            }
            // Only a lone simple query can be rewritten for the standby (BEGIN READ WRITE → BEGIN).
            if loadBalanceText != nil, unit.parts.count != 1 { copy = false }
            plan.copyToLoadBalance = copy
            plan.loadBalanceText = copy ? loadBalanceText : nil
        } else {
            plan.forward = .primary
            // Session state changed on the primary only: the load-balance node no longer matches it.
            if useLoadBalance, sessionStateChange { pinned = true }
        }

        // Statements the unit binds must exist on every link it goes to.
        let targets = LinkSet(plan.forward).adding(plan.copyToLoadBalance ? .loadBalance : nil)
        for name in usedStatements {
            guard var s = statements[name] else { continue }
            for link in Link.allCases where targets.contains(link) && !s.links.contains(link) {
                plan.prepareFirst.append(.init(link, name))
                s.links = s.links.adding(link)
            }
            statements[name] = s
        }
        for part in unit.parts {
            switch part {
            case .parse(let name, let c, _) where !name.isEmpty && plan.forward == .loadBalance:
                // A named statement prepared on the standby is prepared on the primary too, so what the session
                // sees of its own statements there (pg_prepared_statements) is complete.
                statements[name] = PreparedStatement(classification: c, links: targets.adding(.primary))
                plan.prepareFirst.append(.init(.primary, name))
            case .parse(let name, let c, _): statements[name] = PreparedStatement(classification: c, links: targets)
            case .bind(let portal, _): portals[portal] = plan.forward
            default: break
            }
        }
        for name in closed {
            if let s = statements.removeValue(forKey: name) {
                for link in Link.allCases where s.links.contains(link) && !targets.contains(link) {
                    plan.closeElsewhere.append(.init(link, name))
                }
            }
        }
        if clearsStatements {
            statements.removeAll()
            portals.removeAll()
        }
        lastForward = plan.forward
        if unit.complete { openBatch = nil } else if !unit.parts.isEmpty || openBatch != nil { openBatch = plan.forward }
        return plan
    }

    /// A link's ReadyForQuery. `forwarded`: the client sees this one (it also drives the transaction rules).
    public mutating func readyForQuery(_ link: Link, _ s: TransactionStatus, forwarded: Bool) {
        let before = status[link.rawValue]
        status[link.rawValue] = s
        guard forwarded else { return }
        rules.readyForQueryReceived(s)
        if before != .idle, s == .idle, traceTempTables {
            tempTables.transactionEnded(committed: before == .inTransaction && lastEnding != .rollback)
        }
        if s == .idle { lastEnding = nil }
    }

    /// A BOTH unit finished on both links: if only the load-balance node failed, its session state may differ
    /// from the primary's, so the session keeps to the primary.
    public mutating func bothFinished(primaryFailed: Bool, loadBalanceFailed: Bool) {
        if loadBalanceFailed && !primaryFailed { pinned = true }
    }

    /// A forwarded unit failed on the load-balance node inside a transaction that is still open on the
    /// primary: the primary's transaction must fail too, as it would on a single server. True when the shell
    /// should send the primary a statement that fails.
    public func primaryMustAbort() -> Bool {
        status[Link.loadBalance.rawValue] == .failed && status[Link.primary.rawValue] == .inTransaction
    }

    /// Forgets a statement (the shell could not prepare it on a link).
    public mutating func forget(statement name: String) { statements[name] = nil }
}
