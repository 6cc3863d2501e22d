/* fuzz.h — every harness defines LLVMFuzzerTestOneInput. Built with clang and -fsanitize=fuzzer it
 * is a libFuzzer target; built with gcc and tests/fuzz/replay.c it is a plain program that replays
 * a corpus (files or folders named on the command line), so the corpus is a regression test. */
#ifndef AYSFS_FUZZ_H
#define AYSFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
