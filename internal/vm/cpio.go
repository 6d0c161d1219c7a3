package vm

import (
	"fmt"
	"io"
)

// cpioWriter writes the "newc" cpio format, the one the kernel unpacks as an
// initramfs. It is a dozen lines, so no dependency is taken for it.
type cpioWriter struct {
	w   io.Writer
	ino int
	n   int64 // bytes written, for padding
	err error
}

func (c *cpioWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	var k int
	k, c.err = c.w.Write(p)
	c.n += int64(k)
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// entry writes one file (mode includes the type bits) with its contents.
func (c *cpioWriter) entry(name string, mode uint32, data []byte) {
	c.ino++
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	c.write(fmt.Appendf(nil, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(data)
	c.pad()
}

func (c *cpioWriter) dir(name string) { c.entry(name, 0o040755, nil) }

func (c *cpioWriter) file(name string, perm uint32, data []byte) {
	c.entry(name, 0o100000|perm, data)
}

// close writes the trailer and reports the first error.
func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, nil)
	return c.err
}
