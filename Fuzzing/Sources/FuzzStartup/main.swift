import FuzzSupport

runLibFuzzer { fuzzStartup($0, $1) }
