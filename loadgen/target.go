package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrNotLoopback refuses a target outside 127.0.0.0/8 and ::1.
var ErrNotLoopback = errors.New("loadgen: target is not a loopback address (127.0.0.0/8, ::1 or localhost)")

// target is a checked server address, its host pinned to a loopback IP so
// that nothing is resolved after the check.
type target struct {
	http       *url.URL // http or https, for /api/login
	ws         *url.URL // ws or wss, path still empty
	ip         netip.Addr
	serverName string // the host as given, for TLS
}

// parseTarget accepts http://host:port (the scheme may also be https, ws or
// wss, or be left out) where host is a loopback IP or localhost.
func parseTarget(raw string) (target, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("loadgen: target %q: %w", raw, err)
	}
	var httpScheme, wsScheme string
	switch u.Scheme {
	case "http", "ws":
		httpScheme, wsScheme = "http", "ws"
	case "https", "wss":
		httpScheme, wsScheme = "https", "wss"
	default:
		return target{}, fmt.Errorf("loadgen: target %q: scheme must be http, https, ws or wss", raw)
	}
	host := u.Hostname()
	ip, err := loopbackIP(host)
	if err != nil {
		return target{}, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[httpScheme]
	}
	hostPort := net.JoinHostPort(ip.String(), port)
	t := target{
		http:       &url.URL{Scheme: httpScheme, Host: hostPort},
		ws:         &url.URL{Scheme: wsScheme, Host: hostPort},
		ip:         ip,
		serverName: host,
	}
	return t, nil
}

// loopbackIP returns the address of a loopback host. The name localhost is
// taken to mean 127.0.0.1 without asking a resolver; other names are
// refused, since what they resolve to can change after the check.
func loopbackIP(host string) (netip.Addr, error) {
	if strings.EqualFold(host, "localhost") {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %q is not an IP address or localhost", ErrNotLoopback, host)
	}
	ip = ip.Unmap()
	if !ip.IsLoopback() || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: %s", ErrNotLoopback, ip)
	}
	return ip, nil
}

// sourceAddr is the local address of source slot i (of n): 127.0.0.2 and
// up, or nil to let the kernel choose.
func sourceAddr(i, n int) *net.TCPAddr {
	if n == 0 {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%n))}
}
