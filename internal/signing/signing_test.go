package signing

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
)

func newKey(t *testing.T, comment string) (*Key, []byte) {
	t.Helper()
	k, pem, err := NewKey(comment)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem
}

// A signature verifies over its message alone, and names its key.
func TestSignVerify(t *testing.T) {
	k, _ := newKey(t, "a@host")
	msg := []byte(`{"stack":"redmine"}` + "\n")
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	key, err := Verify(sig, msg)
	if err != nil {
		t.Fatal(err)
	}
	if key.Fingerprint() != k.Public.Fingerprint() {
		t.Errorf("verified as %s, signed by %s", key.Fingerprint(), k.Public.Fingerprint())
	}
	other := append([]byte(nil), msg...)
	other[2] ^= 1
	if _, err := Verify(sig, other); err == nil {
		t.Error("a changed message verified")
	}
	for name, bad := range map[string][]byte{
		"empty":           nil,
		"not armored":     []byte("hello"),
		"bad base64":      []byte(armorBegin + "\n!!!!\n" + armorEnd + "\n"),
		"too big":         make([]byte, maxSignature+1),
		"another's magic": []byte(armorBegin + "\nU1NIU0lH\n" + armorEnd + "\n"),
	} {
		if _, err := Verify(bad, msg); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// OpenSSH's own tool checks stackctl's signatures, and stackctl checks its:
// the format is SSHSIG, not a look-alike.
func TestSSHKeygenInterop(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("no ssh-keygen here (Debian's openssh-client)")
	}
	dir := t.TempDir()
	k, pem := newKey(t, "stackctl@test")
	keyFile := filepath.Join(dir, "key")
	must(t, os.WriteFile(keyFile, pem, 0o600))
	msgFile := filepath.Join(dir, "manifest.json")
	msg := []byte("{\"format\": 2}\n")
	must(t, os.WriteFile(msgFile, msg, 0o600))
	allowed := filepath.Join(dir, "allowed")
	must(t, os.WriteFile(allowed, []byte("backup namespaces=\""+Namespace+"\" "+k.Public.String()+"\n"), 0o600))

	// Ours, checked by ssh-keygen.
	sig, err := k.Sign(msg)
	must(t, err)
	sigFile := filepath.Join(dir, "manifest.sig")
	must(t, os.WriteFile(sigFile, sig, 0o600))
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "backup", "-n", Namespace, "-s", sigFile)
	cmd.Stdin = strings.NewReader(string(msg))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y verify refused stackctl's signature: %v\n%s", err, out)
	}
	// ssh-keygen's, checked by ours.
	os.Remove(sigFile)
	cmd = exec.Command("ssh-keygen", "-Y", "sign", "-f", keyFile, "-n", Namespace, msgFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	theirs, err := os.ReadFile(msgFile + ".sig") // ssh-keygen's name for it
	must(t, err)
	key, err := Verify(theirs, msg)
	if err != nil {
		t.Fatalf("ssh-keygen's signature: %v", err)
	}
	if key.Fingerprint() != k.Public.Fingerprint() {
		t.Errorf("verified as %s", key.Fingerprint())
	}
	// Made for another namespace (a git commit's, say), it is no manifest's.
	os.Remove(msgFile + ".sig")
	cmd = exec.Command("ssh-keygen", "-Y", "sign", "-f", keyFile, "-n", "git", msgFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	theirs, _ = os.ReadFile(msgFile + ".sig")
	if _, err := Verify(theirs, msg); err == nil || !strings.Contains(err.Error(), `"git"`) {
		t.Errorf("a git signature: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	k, pem := newKey(t, "x")
	got, err := ParseKey(pem, "key")
	if err != nil || got.Public.Fingerprint() != k.Public.Fingerprint() {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := ParseKey([]byte("not a key"), "key"); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("not a key: %v", err)
	}
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		dir := t.TempDir()
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"-t", "ed25519", "-N", "secret"}, "passphrase"},
			{[]string{"-t", "ecdsa", "-N", ""}, "ed25519 keys only"},
		} {
			f := filepath.Join(dir, tc.args[1])
			if out, err := exec.Command("ssh-keygen", append(tc.args, "-q", "-f", f)...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			data, _ := os.ReadFile(f)
			if _, err := ParseKey(data, f); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
			}
		}
	}
}

func TestParsePublicKey(t *testing.T) {
	k, _ := newKey(t, "ops@host")
	p, err := ParsePublicKey(k.Public.String())
	if err != nil || p.Comment != "ops@host" || p.Fingerprint() != k.Public.Fingerprint() {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"", "ssh-ed25519", k.Public.String() + "\nssh-ed25519 AAAA", `command="x" ` + k.Public.String(),
		"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= x"} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Trust: the own key, listed keys, keys given, and unsigned archives only when said.
func TestTrust(t *testing.T) {
	own, _ := newKey(t, "own")
	listed, _ := newKey(t, "listed")
	given, _ := newKey(t, "given")
	byFingerprint, _ := newKey(t, "by fingerprint")
	stranger, _ := newKey(t, "stranger\x1b[2J")
	tr := NewTrust(&own.Public, "/state/trusted-keys", []PublicKey{listed.Public})
	dir := t.TempDir()
	pub := filepath.Join(dir, "given.pub")
	must(t, os.WriteFile(pub, []byte(given.Public.String()+"\n"), 0o644))
	must(t, tr.Add(pub))
	must(t, tr.Add(byFingerprint.Public.Fingerprint()))
	for _, k := range []*Key{own, listed, given, byFingerprint} {
		if err := tr.Check(&k.Public); err != nil {
			t.Errorf("%s: %v", k.Public.Comment, err)
		}
	}
	err := tr.Check(&stranger.Public)
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), stranger.Public.Fingerprint()) ||
		!strings.Contains(err.Error(), "--trust-key "+stranger.Public.Fingerprint()) || strings.Contains(err.Error(), "\x1b") ||
		!strings.Contains(err.Error(), "own key "+own.Public.Fingerprint()) || !strings.Contains(err.Error(), "1 keys in /state/trusted-keys") ||
		!strings.Contains(err.Error(), "2 given with --trust-key") {
		t.Errorf("a stranger: %v", err)
	}
	if err := tr.Check(nil); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "--trust-unsigned") {
		t.Errorf("unsigned: %v", err)
	}
	tr.Unsigned = true
	if err := tr.Check(nil); err != nil {
		t.Errorf("unsigned, trusted so: %v", err)
	}
	for _, bad := range []string{"SHA256:short", "SHA256:" + strings.Repeat("!", 43), "/nonexistent.pub", "ssh-ed25519 AAAA"} {
		if err := tr.Add(bad); !errors.Is(err, errs.ErrInvalidInput) {
			t.Errorf("--trust-key %s: %v", bad, err)
		}
	}
}

func TestParseTrustedKeys(t *testing.T) {
	a, _ := newKey(t, "a")
	b, _ := newKey(t, "b")
	keys, err := ParseTrustedKeys([]byte("# ours\n\n"+a.Public.String()+"\n  "+b.Public.String()+"  \n"), "tk")
	if err != nil || len(keys) != 2 || keys[1].Fingerprint() != b.Public.Fingerprint() {
		t.Fatalf("%v %v", keys, err)
	}
	if _, err := ParseTrustedKeys([]byte(a.Public.String()+"\nnonsense\n"), "tk"); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "tk line 2") {
		t.Errorf("a bad line: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
