package socket_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/socket"
)

// A handler's metrics go on a registry of the app's own, served wherever
// the app likes (promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) at
// /metrics, say). Series are labelled by route pattern, never by topic.
func ExampleHandler_Collector() {
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel { return lobby{} })
	h, err := socket.New(router)
	if err != nil {
		panic(err)
	}
	defer func() { _ = h.Shutdown(context.Background()) }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())

	_ = h.Broadcast("room:lobby", "news", map[string]string{"body": "hello"})

	families, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range families {
		switch mf.GetName() {
		case "pyre_broadcasts_total", "pyre_channels_joined":
			for _, m := range mf.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				fmt.Printf("%s{%s} %v\n", mf.GetName(), strings.Join(labels, ","), v)
			}
		}
	}
	// Output:
	// pyre_broadcasts_total{origin="local"} 1
	// pyre_broadcasts_total{origin="remote"} 0
	// pyre_channels_joined{route="room:*"} 0
}
