import FuzzSupport

runLibFuzzer { fuzzWatchdog($0, $1) }
