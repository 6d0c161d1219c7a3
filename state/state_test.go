package state

import "testing"

func TestConclusion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c                Conclusion
		valid, retryable bool
	}{
		{Success, true, false},
		{Failure, true, true},
		{Neutral, true, false},
		{Cancelled, true, true},
		{TimedOut, true, true},
		{ActionRequired, true, true},
		{Skipped, true, false},
		{"", false, false},
		{"failed", false, false},
	}
	if len(Conclusions()) != 7 {
		t.Fatalf("Conclusions() = %v, want the 7 GitHub check-run conclusions", Conclusions())
	}
	for _, tt := range tests {
		if got := tt.c.Valid(); got != tt.valid {
			t.Errorf("%q.Valid() = %v, want %v", tt.c, got, tt.valid)
		}
		if got := tt.c.Retryable(); got != tt.retryable {
			t.Errorf("%q.Retryable() = %v, want %v", tt.c, got, tt.retryable)
		}
	}
}
