package socket

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

type originMode int

const (
	originSameHost originMode = iota
	originAny
	originList
)

type originPolicy struct {
	mode    originMode
	allowed []originRule
}

// originRule constrains only the parts that were given.
type originRule struct {
	scheme   string
	host     string // may start with "*." for a domain and its subdomains
	port     string
	wildcard bool
}

func parseOrigins(list []string) (*originPolicy, error) {
	p := &originPolicy{mode: originList}
	for _, s := range list {
		if !strings.Contains(s, "//") {
			s = "//" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("socket: origin %q has no host", s)
		}
		r := originRule{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
		if r.port == "" && r.scheme != "" {
			r.port = defaultPort(r.scheme)
		}
		if strings.HasPrefix(r.host, "*.") {
			r.wildcard, r.host = true, r.host[2:]
		}
		p.allowed = append(p.allowed, r)
	}
	return p, nil
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// check applies the policy to a request. A request with no Origin header
// (a non-browser client) passes, as in Phoenix.
func (p *originPolicy) check(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || p.mode == originAny {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Hostname() == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if p.mode == originSameHost {
		reqHost := r.Host
		if h, _, err := net.SplitHostPort(reqHost); err == nil {
			reqHost = h
		}
		return strings.EqualFold(host, strings.Trim(reqHost, "[]"))
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = defaultPort(scheme)
	}
	for _, a := range p.allowed {
		if a.scheme != "" && a.scheme != scheme {
			continue
		}
		if a.port != "" && a.port != port {
			continue
		}
		if host == a.host || a.wildcard && strings.HasSuffix(host, "."+a.host) {
			return true
		}
	}
	return false
}
