// Package procs runs specloop as an operator does: the built binary as
// separate `specloop web` and `specloop worker` processes against one
// PostgreSQL and an in-process GitHub emulator, so that tests and the soak
// benchmark can send them real signals (SIGKILL, SIGTERM, SIGSTOP) and read
// what each process holds (RSS, open files, goroutines, mounts, disk).
//
// Only tests and benchmarks import it; nothing of the product may.
package procs
