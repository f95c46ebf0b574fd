/// A backend as the load balancer sees it.
public struct NodeCandidate: Equatable, Sendable {
    public var id: Int
    public var weight: Double
    public var isPrimary: Bool
    public var isUp: Bool
    public init(id: Int, weight: Double, isPrimary: Bool, isUp: Bool = true) {
        self.id = id
        self.weight = weight
        self.isPrimary = isPrimary
        self.isUp = isUp
    }
}

/// One entry of `app_name_redirect_preference_list`, `database_redirect_preference_list` or
/// `user_redirect_preference_list`: `pattern:target(ratio)`.
public struct RedirectRule: Equatable, Sendable {
    public enum Target: Equatable, Sendable {
        case node(Int)
        case primary
        case standby
    }
    public var pattern: String
    public var target: Target
    public var ratio: Double

    /// Parses `'postgres:primary,mydb[01]:1(0.3),mydb2:standby'`.
    public static func parseList(_ text: String) -> Result<[RedirectRule], ValueError> {
        var out: [RedirectRule] = []
        for raw in text.split(separator: ",").map({ $0.trimmingSpaces }) where !raw.isEmpty {
            guard let colon = raw.lastIndex(of: ":") else { return .failure(ValueError("\"\(raw)\" is not pattern:target")) }
            let pattern = String(raw[..<colon])
            var targetText = String(raw[raw.index(after: colon)...]).trimmingSpaces
            var ratio = 1.0
            if let open = targetText.firstIndex(of: "("), targetText.hasSuffix(")") {
                guard let r = Double(targetText[targetText.index(after: open)..<targetText.index(before: targetText.endIndex)]),
                      (0...1).contains(r) else { return .failure(ValueError("invalid ratio in \"\(raw)\" (0 to 1)")) }
                ratio = r
                targetText = String(targetText[..<open])
            }
            let target: Target
            switch targetText.lowercased() {
            case "primary": target = .primary
            case "standby": target = .standby
            default:
                guard let n = Int(targetText), n >= 0 else { return .failure(ValueError("invalid target in \"\(raw)\"")) }
                target = .node(n)
            }
            guard (try? Regex(pattern)) != nil else { return .failure(ValueError("invalid regular expression \"\(pattern)\"")) }
            out.append(RedirectRule(pattern: pattern, target: target, ratio: ratio))
        }
        return .success(out)
    }

    func matches(_ value: String) -> Bool {
        guard let r = try? Regex(pattern) else { return false }
        return (try? r.wholeMatch(in: value)) != nil
    }
}

/// Chooses a session's (or, with statement_level_load_balance, a statement's) load-balance node the way
/// Pgpool-II's `select_load_balancing_node()` does: redirect preference lists first (application name,
/// then database, then user), else weighted random over live nodes. Randomness is a parameter.
public struct LoadBalancer: Sendable {
    public var appNameRules: [RedirectRule]
    public var databaseRules: [RedirectRule]
    public var userRules: [RedirectRule]

    public init(appNameRules: [RedirectRule] = [], databaseRules: [RedirectRule] = [], userRules: [RedirectRule] = []) {
        self.appNameRules = appNameRules
        self.databaseRules = databaseRules
        self.userRules = userRules
    }

    public func select(_ nodes: [NodeCandidate], applicationName: String, database: String, user: String,
                       using rng: inout some RandomNumberGenerator) -> Int? {
        let live = nodes.filter(\.isUp)
        guard !live.isEmpty else { return nil }
        let rule = appNameRules.first { $0.matches(applicationName) }
            ?? databaseRules.first { $0.matches(database) }
            ?? userRules.first { $0.matches(user) }
        if let rule {
            let hit = Double.random(in: 0..<1, using: &rng) < rule.ratio
            switch rule.target {
            case .primary:
                if hit, let p = live.first(where: \.isPrimary) { return p.id }
                if !hit { return weighted(live.filter { !$0.isPrimary }, using: &rng) ?? weighted(live, using: &rng) }
            case .standby:
                if hit { return weighted(live.filter { !$0.isPrimary }, using: &rng, ignoringZeroWeights: true) ?? live.first(where: \.isPrimary)?.id }
                return live.first(where: \.isPrimary)?.id ?? weighted(live, using: &rng)
            case .node(let id):
                if hit, live.contains(where: { $0.id == id }) { return id }
                if !hit { return weighted(live.filter { $0.id != id }, using: &rng) ?? weighted(live, using: &rng) }
            }
        }
        return weighted(live, using: &rng)
    }

    /// Weighted random choice; weight 0 never wins unless `ignoringZeroWeights` and all are 0.
    func weighted(_ nodes: [NodeCandidate], using rng: inout some RandomNumberGenerator, ignoringZeroWeights: Bool = false) -> Int? {
        let total = nodes.reduce(0) { $0 + max(0, $1.weight) }
        guard total > 0 else { return ignoringZeroWeights ? nodes.first?.id : nil }
        var x = Double.random(in: 0..<total, using: &rng)
        for n in nodes where n.weight > 0 {
            if x < n.weight { return n.id }
            x -= n.weight
        }
        return nodes.last(where: { $0.weight > 0 })?.id
    }
}
