import Shared

/// The relay's view of shared state, read once and then replayed: transaction pooling plans a unit twice —
/// once to learn which links to borrow, once for real after borrowing — and both plans must agree although
/// other sessions change lag, replay positions and catalog facts meanwhile (on other threads).
final class FrozenWorld: RelayWorld {
    private let live: ClientSession
    private var lagging: Bool?
    private var replay: LSN??
    private var time: UInt64?
    private var facts: [CatalogFacts] = []
    private var factIndex = 0

    init(_ live: ClientSession) { self.live = live }

    /// The real plan asks again, in the same order.
    func replayAnswers() { factIndex = 0 }

    func standbyLagging() -> Bool {
        if let lagging { return lagging }
        let v = live.standbyLagging()
        lagging = v
        return v
    }

    func knownReplay() -> LSN? {
        if let replay { return replay }
        let v = live.knownReplay()
        replay = .some(v)
        return v
    }

    func now() -> UInt64 {
        if let time { return time }
        let v = live.now()
        time = v
        return v
    }

    func catalogFacts(_ c: Classification) -> CatalogFacts {
        defer { factIndex += 1 }
        if factIndex < facts.count { return facts[factIndex] }
        let f = live.catalogFacts(c)
        facts.append(f)
        return f
    }
}
