package sandbox

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
)

// A sandbox pod has no network path to the worker, and on a cluster whose
// NetworkPolicy denies all egress none is wanted. A Unix socket the worker
// binds into a sandbox (the model proxy's) reaches the pod through one
// exec stream instead: `specloop sandbox-forward PATH` listens on PATH in
// the pod and multiplexes every connection over its stdin and stdout; the
// worker dials its own socket for each. Only the sockets the Spec binds
// are reachable this way.

// Frames of the forwarding stream: a type byte, a connection id and a
// length (big endian), then the payload.
const (
	frameReady = 'R' // pod → worker: listening
	frameOpen  = 'O' // pod → worker: a new connection
	frameData  = 'D'
	frameClose = 'C'
)

const maxFrame = 64 << 10

type frameWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (f *frameWriter) send(typ byte, id uint32, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var h [9]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:], id)
	binary.BigEndian.PutUint32(h[5:], uint32(len(p)))
	if _, err := f.w.Write(h[:]); err != nil {
		return err
	}
	if _, err := f.w.Write(p); err != nil {
		return err
	}
	return f.w.Flush()
}

func readFrame(r io.Reader) (typ byte, id uint32, p []byte, err error) {
	var h [9]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[5:])
	if n > maxFrame {
		return 0, 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	p = make([]byte, n)
	_, err = io.ReadFull(r, p)
	return h[0], binary.BigEndian.Uint32(h[1:]), p, err
}

// conns is one side's connections by id.
type conns struct {
	mu sync.Mutex
	m  map[uint32]net.Conn
}

func (c *conns) put(id uint32, conn net.Conn) {
	c.mu.Lock()
	c.m[id] = conn
	c.mu.Unlock()
}

func (c *conns) get(id uint32) net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *conns) drop(id uint32) {
	c.mu.Lock()
	conn := c.m[id]
	delete(c.m, id)
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

func (c *conns) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, conn := range c.m {
		conn.Close()
		delete(c.m, id)
	}
}

// pump copies conn into data frames until it ends, then sends a close.
func pump(fw *frameWriter, id uint32, conn net.Conn, cs *conns) {
	buf := make([]byte, 32<<10)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if fw.send(frameData, id, buf[:n]) != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = fw.send(frameClose, id, nil)
	cs.drop(id)
}

// demux applies frames read from r to cs; open, when set, makes the
// connection a frameOpen asks for.
func demux(r io.Reader, fw *frameWriter, cs *conns, open func(id uint32) (net.Conn, error), ready func()) error {
	br := bufio.NewReader(r)
	for {
		typ, id, p, err := readFrame(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch typ {
		case frameReady:
			if ready != nil {
				ready()
			}
		case frameOpen:
			if open == nil {
				continue
			}
			conn, err := open(id)
			if err != nil {
				_ = fw.send(frameClose, id, nil)
				continue
			}
			cs.put(id, conn)
			go pump(fw, id, conn, cs)
		case frameData:
			if conn := cs.get(id); conn != nil {
				if _, err := conn.Write(p); err != nil {
					cs.drop(id)
					_ = fw.send(frameClose, id, nil)
				}
			}
		case frameClose:
			cs.drop(id)
		}
	}
}

// ForwardMain is `specloop sandbox-forward PATH`, run in a sandbox pod by
// the kubernetes driver: it listens on the Unix socket PATH and carries
// each connection over stdin and stdout to the worker, until stdin ends.
func ForwardMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: specloop sandbox-forward SOCKET")
		return 2
	}
	_ = os.Remove(args[0])
	l, err := net.Listen("unix", args[0])
	if err != nil {
		fmt.Fprintf(stderr, "specloop sandbox-forward: %v\n", err)
		return 1
	}
	defer l.Close()
	fw := &frameWriter{w: bufio.NewWriter(stdout)}
	cs := &conns{m: map[uint32]net.Conn{}}
	defer cs.closeAll()
	if err := fw.send(frameReady, 0, nil); err != nil {
		return 1
	}
	go func() {
		var id uint32
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			id++
			cs.put(id, conn)
			if fw.send(frameOpen, id, nil) != nil {
				return
			}
			go pump(fw, id, conn, cs)
		}
	}()
	if err := demux(stdin, fw, cs, nil, nil); err != nil {
		fmt.Fprintf(stderr, "specloop sandbox-forward: %v\n", err)
		return 1
	}
	return 0
}

// forward runs the forwarder for socket s in the pod until ctx ends; ready
// is closed once it listens.
func (d *kubeDriver) forward(ctx context.Context, name string, s tree, ready chan<- struct{}) error {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	fw := &frameWriter{w: bufio.NewWriter(inW)}
	cs := &conns{m: map[uint32]net.Conn{}}
	defer cs.closeAll()
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		err := demux(outR, fw, cs, func(uint32) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", s.src)
		}, func() { once.Do(func() { close(ready) }) })
		outR.CloseWithError(errors.New("demux ended"))
		done <- err
	}()
	go func() {
		<-ctx.Done()
		inW.Close()
	}()
	argv := append(append([]string(nil), d.cfg.Forwarder...), s.dst)
	_, err := d.exec(ctx, name, argv, inR, outW, io.Discard)
	outW.Close()
	<-done
	return err
}
