package verify_test

import (
	"fmt"

	"github.com/specloop/specloop/verify"
)

func ExampleParseCounts() {
	out := []byte(`=== RUN   TestLogin
    login_test.go:12: got 401, want 200
--- FAIL: TestLogin (0.00s)
=== RUN   TestLogout
--- PASS: TestLogout (0.00s)
FAIL
FAIL	example.com/auth	0.004s
`)
	c := verify.ParseCounts(out)
	fmt.Printf("passed %d, failed %d, skipped %d\n", c.Passed, c.Failed, c.Skipped)
	for _, f := range c.Failing {
		fmt.Printf("%s at %s:%d: %s\n", f.Name, f.File, f.Line, f.Message)
	}
	// Output:
	// passed 1, failed 1, skipped 0
	// TestLogin at login_test.go:12: got 401, want 200
}
