package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The forwarding protocol end to end, without a cluster: ForwardMain (the
// pod's side) listens on a socket, the worker's side dials a real HTTP
// server's socket for each connection, and several requests, concurrent
// ones too, get their answers.
func TestForwardCarriesConnections(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	upstream := filepath.Join(dir, "upstream.sock")
	l, err := net.Listen("unix", upstream)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	inR, inW := io.Pipe()   // worker → pod
	outR, outW := io.Pipe() // pod → worker
	podSock := filepath.Join(dir, "pod.sock")
	exited := make(chan int, 1)
	go func() { exited <- ForwardMain([]string{podSock}, inR, outW, io.Discard); outW.Close() }()

	fw := &frameWriter{w: bufio.NewWriter(inW)}
	cs := &conns{m: map[uint32]net.Conn{}}
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		_ = demux(outR, fw, cs, func(uint32) (net.Conn, error) { return net.Dial("unix", upstream) },
			func() { once.Do(func() { close(ready) }) })
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the forwarder never said it listens")
	}

	client := &http.Client{Transport: &http.Transport{DialContext: nil, Dial: func(_, _ string) (net.Conn, error) {
		return net.Dial("unix", podSock)
	}}}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Repeat(fmt.Sprint(i), 100000) // more than one frame
			resp, err := client.Post(fmt.Sprintf("http://model/req%d", i), "text/plain", strings.NewReader(body))
			if !assertNoErr(t, err) {
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if assertNoErr(t, err) && string(got) != fmt.Sprintf("POST /req%d %s", i, body) {
				t.Errorf("request %d: got %d bytes %.40q", i, len(got), got)
			}
		}()
	}
	wg.Wait()
	inW.Close() // the worker is done: the forwarder ends
	select {
	case code := <-exited:
		require.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("the forwarder did not end with its stdin")
	}
}

func assertNoErr(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
