#ifndef CLIBFUZZER_H
#define CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs that have their own `main` (compiler-rt FuzzerInterface.h).
/// SwiftPM links every executable's `main` to its module's entry point, so libFuzzer's `main` never runs and
/// each harness hands its arguments over through this.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
