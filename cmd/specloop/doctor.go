package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/specloop/specloop/internal/stack"
)

// runDoctor is `specloop doctor`: one line per check of this worker host,
// with what to fix; it exits 1 when a check fails.
func runDoctor(ctx context.Context, _ []string, stdout, _ io.Writer) int {
	code := 0
	for _, c := range stack.Doctor(ctx, os.Getenv) {
		line := fmt.Sprintf("%-4s %-18s %s", c.Level, c.Name, c.Detail)
		if c.Fix != "" {
			line += " — fix: " + c.Fix
		}
		fmt.Fprintln(stdout, line)
		if c.Level == "fail" {
			code = 1
		}
	}
	return code
}
