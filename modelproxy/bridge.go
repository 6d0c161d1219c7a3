package modelproxy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
)

// BridgeMain is `specloop model-bridge --listen ADDR --socket PATH -- CMD
// ARGS...`, run inside the sandbox: it listens on the loopback address the
// agent's base URL names, carries each connection to the proxy's Unix
// socket, and runs CMD, exiting with its status. The sandbox has no other
// network, so this is the agent's only way out.
func BridgeMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model-bridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:41100", "loopback address to listen on")
	socket := fs.String("socket", "", "the model proxy's Unix socket")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	argv := fs.Args()
	if *socket == "" || len(argv) == 0 {
		fmt.Fprintln(stderr, "usage: specloop model-bridge --listen ADDR --socket PATH -- CMD [ARGS...]")
		return 2
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "specloop model-bridge: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Bridge(ctx, l, *socket)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "specloop model-bridge: starting %s: %v\n", argv[0], err)
		return 127
	}
	// The sandbox stops everything in it; pass a polite stop on anyway.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return 128 + int(st.Signal())
		}
		return ee.ExitCode()
	default:
		fmt.Fprintf(stderr, "specloop model-bridge: %v\n", err)
		return 1
	}
}

// Bridge carries each connection accepted on l to the Unix socket at
// socket, until ctx is done.
func Bridge(ctx context.Context, l net.Listener, socket string) {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go splice(c, socket)
	}
}

func splice(c net.Conn, socket string) {
	defer c.Close()
	u, err := net.Dial("unix", socket)
	if err != nil {
		return
	}
	defer u.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(u, c)
		if uc, ok := u.(*net.UnixConn); ok {
			_ = uc.CloseWrite()
		}
	}()
	_, _ = io.Copy(c, u)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	wg.Wait()
}
