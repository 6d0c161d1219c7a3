// Package stack assembles specloop: the server of `specloop serve`, `web`
// and `worker` (StartServer), and the whole product on one machine (Start):
// a database, the GitHub emulator with a seeded repo and two users, and
// specloop wired to both, for `specloop testdrive` and the end-to-end
// tests.
//
// Only commands and tests import it; nothing of the product may.
package stack
