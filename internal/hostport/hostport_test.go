package hostport

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

// listen holds a TCP port on addr (host:0) for the test, and returns its port.
func listen(t *testing.T, network, addr string) int {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s here: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// TestHeld: a port a listener holds is held on its address and on every
// address, one on loopback on the wildcard too, and free once closed.
func TestHeld(t *testing.T) {
	t.Run("on loopback", func(t *testing.T) {
		port := listen(t, "tcp4", "127.0.0.1:0")
		for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
			if !Held(host, port) {
				t.Errorf("Held(%s, %d) = false with a listener on 127.0.0.1", host, port)
			}
		}
	})
	t.Run("on every address", func(t *testing.T) {
		port := listen(t, "tcp4", "0.0.0.0:0")
		if !Held("127.0.0.1", port) {
			t.Errorf("Held(127.0.0.1, %d) = false with a listener on 0.0.0.0", port)
		}
	})
	t.Run("free", func(t *testing.T) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Skip(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if Held("127.0.0.1", port) {
			t.Errorf("Held(127.0.0.1, %d) = true with nothing listening", port)
		}
	})
	t.Run("not an address", func(t *testing.T) {
		if Held("localhost", 8080) {
			t.Errorf("Held(localhost) = true: a name is the engine's to refuse")
		}
	})
}

// TestHolder: the process listening is named by /proc, here this test's own.
func TestHolder(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp here")
	}
	port := listen(t, "tcp4", "127.0.0.1:0")
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skip(err)
	}
	want := strings.TrimSpace(string(comm)) + ", pid " + strconv.Itoa(os.Getpid())
	for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
		if got := Holder(host, port); got != want {
			t.Errorf("Holder(%s, %d) = %q, want %q", host, port, got, want)
		}
	}
	if got := Holder("127.0.0.2", port); got != "" {
		t.Errorf("Holder(127.0.0.2, %d) = %q: another address holds nothing", port, got)
	}
}

// TestParseTable reads the listening sockets of /proc/net/tcp and tcp6 as
// the kernel writes them on a little-endian machine, and leaves the others out.
func TestParseTable(t *testing.T) {
	if !littleEndian() {
		t.Skip("the sample is a little-endian machine's")
	}
	for _, tc := range []struct {
		name, table string
		want        []socket
	}{
		{name: "tcp", table: `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 997384 1 00000000f9b9c3b4 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 307 1 0000000023fb676c 100 0 0 10 0
   2: 0100A8C0:C4FC 0400A8C0:0947 06 00000000:00000000 03:0000019B 00000000     0        0 0 3 00000000615cd7c1
`, want: []socket{
			{addr: netip.MustParseAddr("127.0.0.1"), port: 8080, inode: "997384"},
			{addr: netip.MustParseAddr("0.0.0.0"), port: 80, inode: "307"},
		}},
		{name: "tcp6", table: `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 4343 1 0000000000000000 100 0 0 10 0
`, want: []socket{
			{addr: netip.MustParseAddr("::"), port: 8080, inode: "4242"},
			{addr: netip.MustParseAddr("::1"), port: 443, inode: "4343"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTable(strings.NewReader(tc.table))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("socket %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestConflicts: which listener keeps the engine from publishing where.
func TestConflicts(t *testing.T) {
	for _, tc := range []struct {
		want, have string
		conflict   bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "0.0.0.0", true},
		{"0.0.0.0", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.2", false},
		{"127.0.0.1", "::", true},
		{"127.0.0.1", "::1", false},
		{"::", "0.0.0.0", false},
		{"::1", "::", true},
		{"::", "::1", true},
	} {
		if got := conflicts(netip.MustParseAddr(tc.want), netip.MustParseAddr(tc.have)); got != tc.conflict {
			t.Errorf("conflicts(%s, %s) = %v, want %v", tc.want, tc.have, got, tc.conflict)
		}
	}
}

func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }
