#ifndef CBENCHSUPPORT_H
#define CBENCHSUPPORT_H
#include <stdint.h>

/// Heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) made by
/// this process so far. Linking this library replaces the allocator entry points with counting
/// ones that forward to glibc; only the benchmark executable links it.
uint64_t bench_allocations(void);

/// Opens a counter of user-space instructions retired by the calling thread; -1 when the kernel
/// does not allow it (perf_event_paranoid, containers).
int bench_instructions_open(void);
/// The counter's value so far.
uint64_t bench_instructions_read(int fd);
void bench_instructions_close(int fd);

#endif
