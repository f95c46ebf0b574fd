/// One pgpool.conf parameter, declared once. The parser, `poold --check`, the generated reference and
/// the sample file all read this.
public struct SettingDescriptor: Sendable {
    /// How the value is typed and validated.
    public enum Kind: Sendable, Equatable {
        case bool
        /// An integer, optionally with a unit suffix converted to `unit` (pgpool accepts `10s`, `6min`, `64MB`).
        case integer(min: Int, max: Int, unit: Unit)
        case real(min: Double, max: Double)
        case string
        /// One of a fixed set of words (case-insensitive).
        case enumeration([String])
        /// A comma-separated list.
        case list
    }

    /// The base unit an integer is stored in.
    public enum Unit: Sendable, Equatable { case none, milliseconds, seconds, minutes, bytes, kilobytes }

    /// When a change takes effect: pgpool's INIT (restart), RELOAD and SESSION contexts.
    public enum Context: String, Sendable { case restart, reload, session }

    /// Whether poold acts on the parameter yet. Setting a `planned` one gives a warning, not an error,
    /// so an operator's existing pgpool.conf loads.
    public enum Support: Sendable { case implemented, planned }

    /// Parameters with a numeric suffix: `backend_hostname0`; `health_check_period` takes both forms.
    public enum Indexed: Sendable { case no, required, optional }

    public var name: String
    public var kind: Kind
    public var defaultValue: String
    public var context: Context
    public var category: String
    public var doc: String
    public var support: Support
    public var indexed: Indexed
    /// Old names (4.1 and earlier) accepted with a deprecation warning.
    public var aliases: [String]
    /// A password or key: SHOW pool_status, PGPOOL SHOW and `--check` print `*****` (Pgpool-II's VAR_HIDDEN_VALUE).
    public var secret: Bool

    public init(_ name: String, _ kind: Kind, _ defaultValue: String, _ context: Context, _ category: String,
                _ doc: String, support: Support = .implemented, indexed: Indexed = .no, aliases: [String] = [],
                secret: Bool = false) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.context = context
        self.category = category
        self.doc = doc
        self.support = support
        self.indexed = indexed
        self.aliases = aliases
        self.secret = secret
    }

    /// How a value is shown to clients and operators: `*****` for a secret.
    public func shown(_ value: SettingValue?) -> String { secret ? "*****" : value?.description ?? "" }
}
