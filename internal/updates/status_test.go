package updates

import (
	"cmp"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stackctl/stackctl/internal/errs"
)

// TestParseStatus reads dpkg status files: status-bookworm is paragraphs of
// a Debian 12 host's /var/lib/dpkg/status, with a removed package whose
// configuration files remain (cron) and a purged one (nano) written in
// dpkg's form; neither is installed.
func TestParseStatus(t *testing.T) {
	bookworm := []Installed{
		{Package: "base-files", Architecture: "amd64", Version: "12.4+deb12u11", Source: "base-files"},
		{Package: "bash", Architecture: "amd64", Version: "5.2.15-2+b8", Source: "bash"},
		{Package: "bsdutils", Architecture: "amd64", Version: "1:2.38.1-5+deb12u3", Source: "util-linux"},
		{Package: "ca-certificates", Architecture: "all", Version: "20230311+deb12u1", Source: "ca-certificates"},
		{Package: "libssl3", Architecture: "amd64", Version: "3.0.19-1~deb12u2", Source: "openssl"},
		{Package: "openssl", Architecture: "amd64", Version: "3.0.19-1~deb12u2", Source: "openssl"},
		{Package: "tzdata", Architecture: "all", Version: "2025b-0+deb12u2", Source: "tzdata"},
	}
	fixture := func(name string) func(t *testing.T) io.Reader {
		return func(t *testing.T) io.Reader {
			f, err := os.Open(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		}
	}
	errCopy := errors.New("copying from the container failed")
	text := func(s string) func(*testing.T) io.Reader {
		return func(*testing.T) io.Reader { return strings.NewReader(s) }
	}
	tests := []struct {
		name    string
		input   func(t *testing.T) io.Reader
		want    []Installed
		wantErr []string // substrings of the error, which wraps wantIs
		wantIs  error    // nil: errs.ErrInvalidInput
	}{
		{name: "bookworm", input: fixture("status-bookworm"), want: bookworm},
		{name: "empty", input: text("")},
		{name: "CRLF and blank lines of spaces", input: text("\r\n \nPackage: zlib1g\r\nStatus: install ok installed\r\n" +
			"Architecture: amd64\r\nVersion: 1:1.2.13.dfsg-1\r\n \t\nPackage: a\nStatus: purge ok not-installed\n"),
			want: []Installed{{Package: "zlib1g", Architecture: "amd64", Version: "1:1.2.13.dfsg-1", Source: "zlib1g"}}},
		{name: "held packages are installed", input: text("Package: tzdata\nStatus: hold ok installed\nArchitecture: all\nVersion: 2025b-0+deb12u2\n"),
			want: []Installed{{Package: "tzdata", Architecture: "all", Version: "2025b-0+deb12u2", Source: "tzdata"}}},
		{name: "no Version", input: fixture("status-no-version"), wantErr: []string{"line 1, package libc6", "no Version"}},
		{name: "no Package", input: fixture("status-no-package"), wantErr: []string{"line 7", "without Package"}},
		{name: "malformed version", input: fixture("status-bad-version"),
			wantErr: []string{"line 11, package libssl3", `Version "3.0.19-1~deb12u2 extra"`, "embedded spaces"}},
		{name: "epoch not a number", input: text("Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: x:5.2\n"),
			wantErr: []string{"line 4, package bash", "epoch"}},
		{name: "no Architecture", input: text("Package: bash\nStatus: install ok installed\nVersion: 5.2\n"),
			wantErr: []string{"package bash", "no Architecture"}},
		{name: "no Status", input: text("Package: bash\nArchitecture: amd64\nVersion: 5.2\n"),
			wantErr: []string{"package bash", "not 'selection flag state'"}},
		{name: "field twice", input: text("Package: bash\nStatus: install ok installed\nVersion: 5.2\nVersion: 5.3\n"),
			wantErr: []string{"line 4, package bash", "second version field"}},
		{name: "not a field", input: text("Package: bash\nthis is no field\n"), wantErr: []string{"line 2", "no field"}},
		{name: "escape sequence in a name", input: text("Package: \x1b[2Jbash\nStatus: install ok installed\n"),
			wantErr: []string{`"\x1b[2Jbash" is no Debian package name`}},
		{name: "the reader fails", input: func(*testing.T) io.Reader {
			return io.MultiReader(strings.NewReader("Package: bash\n"), iotest.ErrReader(errCopy))
		}, wantErr: []string{"reading dpkg status at line 2: copying from the container failed"}, wantIs: errCopy},
		{name: "oversize", input: text(strings.Repeat("Package: a\nStatus: install ok config-files\nDescription: x\n"+
			strings.Repeat(" "+strings.Repeat("x", 1023)+"\n", 1024)+"\n", 64) + "Package: b\n"),
			wantErr: []string{"more than 64 MiB"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStatus(tc.input(t))
			if tc.wantErr != nil {
				wantIs := cmp.Or(tc.wantIs, errs.ErrInvalidInput)
				if !errors.Is(err, wantIs) {
					t.Fatalf("ParseStatus: %v, want an error wrapping %v", err, wantIs)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ParseStatus =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}
