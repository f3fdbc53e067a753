package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pyrehq/pyre/socket"
)

// socketApp is an app with one socket handler: both examples are.
type socketApp interface {
	service
	Socket() *socket.Handler
}

// metered serves GET /metrics in front of an app, the rest to the app.
type metered struct {
	service
	mux *http.ServeMux
}

func (m metered) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }

// withMetrics adds /metrics to a: the socket handler's collector, and the
// Go runtime's and the process's, on a registry of the command's own.
func withMetrics(a socketApp) service {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		a.Socket().Collector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", a)
	return metered{service: a, mux: mux}
}
