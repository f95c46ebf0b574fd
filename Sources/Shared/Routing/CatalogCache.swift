/// What poold knows of the primary's catalog for routing, shared by all sessions (Pgpool-II's relcache):
/// which functions write (write_function_list / read_only_function_list, else pg_proc volatility) and which
/// relations must be read on the primary (temporary or unlogged per pg_class, or a system catalog).
/// Unknown names make a statement go to the primary while the shell looks them up — never wrong, only
/// conservative for the first statement that names them.
public struct CatalogCache: Sendable {
    public private(set) var functions: WritingFunctions
    /// Relation name → must be read on the primary.
    public private(set) var relations: [String: Bool] = [:]
    /// check_unlogged_table or check_temp_table = catalog: relations are looked up in pg_class.
    public let lookUpRelations: Bool
    /// write_function_list / read_only_function_list verdicts per name, so patterns are matched once.
    private var listVerdicts: [String: Bool] = [:]
    /// Names being looked up now (so one lookup serves every session).
    private var pending: Set<String> = []
    /// Bounds memory when applications generate endless distinct names.
    public let capacity: Int

    public init(functions: WritingFunctions, lookUpRelations: Bool, capacity: Int = 10_000) {
        self.functions = functions
        self.lookUpRelations = lookUpRelations
        self.capacity = capacity
    }

    /// Facts for one load-balanceable statement; unknown names are returned (whether or not someone is already
    /// looking them up: `claim` decides who asks).
    public mutating func facts(_ c: Classification) -> CatalogFacts {
        var f = CatalogFacts()
        if functions.usesLists {
            for name in c.functions {
                let writes = listVerdicts[name] ?? functions.listSaysWrites(name)
                if listVerdicts.count < capacity { listVerdicts[name] = writes }
                if writes { f.writesByFunction = true }
            }
        } else {
            switch functions.verdict(for: c.functions) {
        case .readOnly: break
        case .writes: f.writesByFunction = true
        case .unknown(let names):
            f.primaryOnlyRelation = true
            f.unknownFunctions = names
            }
        }
        for r in c.relations {
            if Self.isSystemCatalog(r) { f.primaryOnlyRelation = true; continue }
            guard lookUpRelations else { continue }
            switch relations[r] {
            case true?: f.primaryOnlyRelation = true
            case false?: break
            case nil:
                f.primaryOnlyRelation = true
                f.unknownRelations.append(r)
            }
        }
        return f
    }

    /// The names nobody is looking up yet, now marked as being looked up by the caller.
    public mutating func claim(functions: [String], relations: [String]) -> (functions: [String], relations: [String]) {
        (Array(Set(functions.filter { pending.insert("f:" + $0).inserted })).sorted(),
         Array(Set(relations.filter { pending.insert("r:" + $0).inserted })).sorted())
    }

    /// Rows of `functionQuery` (name, 't'/'f'); `failed`: the lookup errored, so the names are forgotten and
    /// asked again later.
    public mutating func learnFunctions(_ names: [String], rows: [[String?]], failed: Bool) {
        for n in names { pending.remove("f:" + n) }
        guard !failed else { return }
        if functions.volatility.count >= capacity { functions.forgetVolatility() }
        for row in rows where row.count == 2 {
            if let name = row[0], let v = row[1] { functions.learn(name, isVolatile: v == "t") }
        }
    }

    public mutating func learnRelations(_ names: [String], rows: [[String?]], failed: Bool) {
        for n in names { pending.remove("r:" + n) }
        guard !failed else { return }
        if relations.count >= capacity { relations.removeAll() }
        for row in rows where row.count == 2 {
            if let name = row[0], let v = row[1] { relations[name] = v == "t" }
        }
    }

    /// pg_catalog / information_schema relations, and bare pg_* names (resolved in pg_catalog first).
    public static func isSystemCatalog(_ relation: String) -> Bool {
        relation.hasPrefix("pg_") || relation.hasPrefix("pg_catalog.") || relation.hasPrefix("information_schema.")
    }

    /// One catalog query for several function names (bare names by visibility, qualified ones by schema):
    /// true when any overload is volatile, or when no such function exists. It cannot fail on odd names.
    public static func functionQuery(_ names: [String]) -> String {
        let (schemas, bare) = split(names)
        return "SELECT f.n, coalesce((SELECT bool_or(p.provolatile = 'v') FROM pg_catalog.pg_proc p "
            + "JOIN pg_catalog.pg_namespace s ON s.oid = p.pronamespace WHERE p.proname = f.b AND "
            + "CASE WHEN f.s = '' THEN pg_catalog.pg_function_is_visible(p.oid) ELSE s.nspname = f.s END), true) "
            + "FROM ROWS FROM (pg_catalog.unnest(\(array(names))), pg_catalog.unnest(\(array(schemas))), "
            + "pg_catalog.unnest(\(array(bare)))) AS f(n, s, b)"
    }

    /// One catalog query for several relation names: true when the relation is temporary or unlogged
    /// (relpersistence ≠ 'p'); false when it is permanent or unknown (a CTE name, say).
    public static func relationQuery(_ names: [String]) -> String {
        let (schemas, bare) = split(names)
        return "SELECT r.n, coalesce((SELECT bool_or(c.relpersistence <> 'p') FROM pg_catalog.pg_class c "
            + "JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace WHERE c.relname = r.b AND "
            + "CASE WHEN r.s = '' THEN pg_catalog.pg_table_is_visible(c.oid) ELSE s.nspname = r.s END), false) "
            + "FROM ROWS FROM (pg_catalog.unnest(\(array(names))), pg_catalog.unnest(\(array(schemas))), "
            + "pg_catalog.unnest(\(array(bare)))) AS r(n, s, b)"
    }

    private static func split(_ names: [String]) -> ([String], [String]) {
        var schemas: [String] = []
        var bare: [String] = []
        for n in names {
            let parts = n.split(separator: ".", maxSplits: 1)
            if parts.count == 2 { schemas.append(String(parts[0])); bare.append(String(parts[1])) } else { schemas.append(""); bare.append(n) }
        }
        return (schemas, bare)
    }

    private static func array(_ values: [String]) -> String {
        "ARRAY[" + values.map { "'" + $0.replacingSingleQuotes + "'" }.joined(separator: ",") + "]::pg_catalog.text[]"
    }
}
