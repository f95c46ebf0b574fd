import FuzzSupport

runLibFuzzer { fuzzFrames($0, $1) }
