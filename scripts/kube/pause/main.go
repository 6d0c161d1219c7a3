// Command pause is the init of the local cluster's pod sandboxes and of
// specloop's sandbox containers: it sleeps until SIGTERM or SIGINT and reaps
// every orphan, so a command's background processes never linger as
// zombies. The local cluster has no registry to pull registry.k8s.io/pause
// from; scripts/kube/image.sh builds this statically instead.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
