// Declarations only: LLVMFuzzerRunDriver comes from the toolchain's libclang_rt.fuzzer (-sanitize=fuzzer).
#include "CLibFuzzer.h"
