package hostport

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/stackctl/stackctl/internal/termsafe"
)

// procRoot is where the kernel's process and socket tables are read.
const procRoot = "/proc"

// Held says whether something on this host listens on host:port (TCP) so
// that the engine could not publish there: it tries to listen there itself
// (as the engine does, for one family), and where it may not (a port below
// 1024, to a user without the right) reads /proc's listening sockets. Any
// other failure, such as an address this host lacks, is the engine's to
// report: Held says no.
func Held(host string, port int) bool {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	network := "tcp4"
	if ip.Is6() && !ip.Is4In6() {
		network = "tcp6"
	}
	l, err := net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
	switch {
	case err == nil:
		l.Close()
		return false
	case errors.Is(err, syscall.EADDRINUSE):
		return true
	case errors.Is(err, syscall.EACCES):
		return len(listening(ip, port)) > 0
	}
	return false
}

// Holder names the process listening on host:port ("nginx, pid 1234", its
// name escaped for a terminal), or "" when /proc does not tell: no such table (not Linux), or a process of
// another user, whose descriptors only root may read.
func Holder(host string, port int) string {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	inodes := map[string]bool{}
	for _, s := range listening(ip, port) {
		inodes["socket:["+s.inode+"]"] = true
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, err := os.ReadDir(procRoot)
	if err != nil {
		return ""
	}
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		fds, err := os.ReadDir(filepath.Join(procRoot, p.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(procRoot, p.Name(), "fd", fd.Name())); err == nil && inodes[link] {
				comm, err := os.ReadFile(filepath.Join(procRoot, p.Name(), "comm"))
				if err != nil {
					return "pid " + p.Name()
				}
				return fmt.Sprintf("%s, pid %s", termsafe.String(strings.TrimSuffix(string(comm), "\n")), p.Name())
			}
		}
	}
	return ""
}

// socket is one listening socket of /proc/net/tcp or tcp6.
type socket struct {
	addr  netip.Addr
	port  int
	inode string
}

// listening lists the listening sockets of this network namespace that
// would keep the engine from publishing on ip:port: the same port, on the
// same address or either one every address. A wildcard IPv6 socket counts
// against IPv4 too, dual-stack as Linux makes it unless told otherwise.
func listening(ip netip.Addr, port int) []socket {
	var out []socket
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(procRoot, "net", table))
		if err != nil {
			continue
		}
		socks, err := parseTable(f)
		f.Close()
		if err != nil {
			continue
		}
		for _, s := range socks {
			if s.port == port && conflicts(ip.Unmap(), s.addr.Unmap()) {
				out = append(out, s)
			}
		}
	}
	return out
}

// conflicts says whether binding want fails against a listener on have (the same port).
func conflicts(want, have netip.Addr) bool {
	switch {
	case want.Is4() && have.Is4(), want.Is6() && have.Is6():
		return want == have || want.IsUnspecified() || have.IsUnspecified()
	case want.Is4():
		return have.IsUnspecified()
	}
	return false
}

// listenState is TCP_LISTEN as /proc/net/tcp writes a socket's state.
const listenState = "0A"

// parseTable reads the listening sockets of a /proc/net/tcp or tcp6 table:
// "sl local_address rem_address st … inode", the address as the kernel
// holds it (32-bit words in its byte order), the port in hex.
func parseTable(r io.Reader) ([]socket, error) {
	var out []socket
	sc := bufio.NewScanner(r)
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != listenState {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		addr, err := parseAddr(hexAddr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q: %w", hexPort, err)
		}
		out = append(out, socket{addr: addr, port: int(port), inode: f[9]})
	}
	return out, sc.Err()
}

// parseAddr reads an address of /proc/net/tcp{,6}: 8 or 32 hex digits, each
// 32-bit word the value the kernel's memory holds, printed in its byte order.
func parseAddr(s string) (netip.Addr, error) {
	raw, err := hex.DecodeString(s)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, fmt.Errorf("address %q: want 8 or 32 hex digits", s)
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr, nil
}
