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

/// Remembers a child process to kill if the run's time bound expires.
void bench_register_child(int pid);
/// After `seconds`, kills every registered child, says so on standard error and exits with
/// status 3: the whole benchmark run is bounded in time.
void bench_set_deadline(unsigned seconds);

/// Pins the calling thread to CPU `cpu`; 0 on success.
int bench_pin_thread(int cpu);

/// The floor server (floor.c): a minimal epoll pub/sub fan-out on 127.0.0.1:`port`, serving
/// until killed (and killed with its parent). Returns only when it cannot listen.
int bench_floor_serve(int port);

#endif
