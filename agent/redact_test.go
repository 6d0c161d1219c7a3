package agent

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	pem := "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MaXNIHmTV\nKx2kq0Yb9ZtNCx7mEqmS2U3sZ4ZWrM1xUBmFgGxbh6y0lLhtSnpVZUy\n-----END RSA PRIVATE KEY-----\n"
	r := NewRedactor("hunter2-webhook-secret", pem, "postgres://specloop:dbpass99@db:5432/specloop", "", "ab")
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"installation token", "token ghs_16C7e42F292c6912E7710c838347Ae178B4a here", "token [REDACTED] here"},
		{"personal token", "GH_TOKEN=ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "GH_TOKEN=[REDACTED]"},
		{"oauth token", "gho_16C7e42F292c6912E7710c838347Ae178B4a", "[REDACTED]"},
		{"user token", "x ghu_16C7e42F292c6912E7710c838347Ae178B4a", "x [REDACTED]"},
		{"refresh token", "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498", "[REDACTED]"},
		{"fine-grained PAT", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF", "[REDACTED]"},
		{"private key literal", "key:\n" + pem + "done", "key:\n[REDACTED]\ndone"},
		{
			"other private key by shape",
			"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----",
			"[REDACTED]",
		},
		{"private key cut by a cap", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBYk\n[… 10 bytes elided …]", "[REDACTED]"},
		{"private key tail", "[… elided …]\nAAAAB3NzaC1yc2EAAAADAQABAAABAQC7\n-----END PRIVATE KEY-----\nnext", "[… elided …]\n[REDACTED]\nnext"},
		{"public key kept", "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----", "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"},
		{"openai key", "OPENAI_API_KEY=sk-proj-abcDEF123456ghiJKL789mno", "OPENAI_API_KEY=[REDACTED]"},
		{"anthropic key", "key sk-ant-api03-AbCdEf_0123456789-xyzXYZ", "key [REDACTED]"},
		{"bearer header", "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2ln", "Authorization: Bearer [REDACTED]"},
		{"token header", "authorization: token abcdef0123456789abcdef", "authorization: token [REDACTED]"},
		{"bearer in curl", `curl -H "Authorization: Bearer abc.def.ghi12345" https://api`, `curl -H "Authorization: Bearer [REDACTED]" https://api`},
		{"x-access-token URL", "https://x-access-token:v1.abc123def456@github.com/o/r.git", "https://x-access-token:[REDACTED]@github.com/o/r.git"},
		{"postgres URL", "dial postgres://app:s3cr3t@localhost:5432/db failed", "dial postgres://app:[REDACTED]@localhost:5432/db failed"},
		{"database URL literal", "DATABASE_URL=postgres://specloop:dbpass99@db:5432/specloop", "DATABASE_URL=[REDACTED]"},
		{"libpq DSN", "host=db user=app password=s3cr3t dbname=x", "host=db user=app password=[REDACTED] dbname=x"},
		{"webhook secret literal", "secret=hunter2-webhook-secret;", "secret=[REDACTED];"},
		{"short literal ignored", "about a tab", "about a tab"},
		{"ordinary text untouched", "task-list items, disk-usage, the token count was 42, https://github.com/o/r", "task-list items, disk-usage, the token count was 42, https://github.com/o/r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.in)
			require.Equal(t, tt.want, string(r.Redact(in)))
			require.Equal(t, tt.in, string(in), "input was modified")
		})
	}
}

func TestRedactNil(t *testing.T) {
	t.Parallel()
	var r *Redactor
	require.Equal(t, "x [REDACTED]", r.RedactString("x ghs_16C7e42F292c6912E7710c838347Ae178B4a"))
}
