// libFuzzer's driver, for an executable whose main SwiftPM names itself (storefs-fuzz, built with
// -sanitize=fuzzer by scripts/fuzz.sh: libclang_rt.fuzzer provides it). Declared only: a plain build
// never calls it.
#ifndef STOREFS_LIBFUZZER_H
#define STOREFS_LIBFUZZER_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
