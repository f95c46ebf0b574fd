/// Per-session values set with `PGPOOL SET` and undone with `PGPOOL RESET`; only parameters whose
/// context is `session` accept them (Pgpool-II §1.3). Values vanish with the session.
public struct SessionSettings: Equatable, Sendable {
    public private(set) var overrides: [String: SettingValue] = [:]

    public init() {}

    /// `PGPOOL SET name TO value` (`value` nil = DEFAULT, i.e. back to the configuration's value).
    public mutating func set(_ rawName: String, to text: String?) -> ProxyError? {
        guard let (d, index, _) = Settings.lookup(rawName), index == nil else {
            return ProxyError(.undefinedObject, "unrecognized configuration parameter \"\(rawName)\"")
        }
        guard d.context == .session else {
            return ProxyError(.cantChangeRuntimeParameter, "parameter \"\(d.name)\" cannot be changed in a session")
        }
        guard let text else {
            overrides[d.name] = nil
            return nil
        }
        switch SettingValue.parse(text, as: d.kind) {
        case .success(let v):
            overrides[d.name] = v
            return nil
        case .failure(let e):
            return ProxyError(.invalidParameterValue, "invalid value for parameter \"\(d.name)\": \(e.message)")
        }
    }

    /// `PGPOOL RESET name | ALL`.
    public mutating func reset(_ rawName: String) -> ProxyError? {
        if rawName.lowercased() == "all" {
            overrides.removeAll()
            return nil
        }
        return set(rawName, to: nil)
    }

    /// The configuration as this session sees it.
    public func applied(to config: PoolConfiguration) -> PoolConfiguration {
        var c = config
        for (k, v) in overrides { c.values[k] = v }
        return c
    }
}
