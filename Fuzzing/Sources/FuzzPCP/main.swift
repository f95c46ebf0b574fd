import FuzzSupport

runLibFuzzer { fuzzPCP($0, $1) }
