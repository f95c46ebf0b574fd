import FuzzSupport

runLibFuzzer { fuzzConfig($0, $1) }
