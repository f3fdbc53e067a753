package loadgen

import (
	"math/bits"
	"sync"
)

// histogram counts durations in nanoseconds in buckets of bounded relative
// width: values below 128 ns each have their own bucket, and every power of
// two above is cut into 64 equal buckets, so a quantile read from the
// middle of its bucket is within 1/128 of the true value. Values from 2^41
// ns (about 37 minutes) up share the last bucket.
type histogram struct {
	counts        [histBuckets]uint64
	n, sum        uint64
	lowest, worst uint64
}

const (
	histSubBits = 6                // 64 buckets per power of two
	histExact   = 2 << histSubBits // 128 values counted exactly
	histMaxExp  = 40               // the highest power of two split up
	histBuckets = histExact + (histMaxExp-histSubBits)<<histSubBits
)

// histIndex is v's bucket.
func histIndex(v uint64) int {
	if v < histExact {
		return int(v)
	}
	exp := bits.Len64(v) - 1   // v is in [2^exp, 2^(exp+1))
	shift := exp - histSubBits // bucket width is 2^shift
	if exp > histMaxExp {
		return histBuckets - 1
	}
	sub := int(v>>shift) & (1<<histSubBits - 1)
	return histExact + (shift-1)<<histSubBits + sub
}

// histMid is the middle of bucket i.
func histMid(i int) uint64 {
	if i < histExact {
		return uint64(i)
	}
	shift := (i-histExact)>>histSubBits + 1
	sub := uint64((i - histExact) & (1<<histSubBits - 1))
	low := (1<<histSubBits + sub) << shift
	return low + (uint64(1)<<shift)/2
}

func (h *histogram) add(ns int64) {
	v := uint64(max(ns, 0))
	h.counts[histIndex(v)]++
	if h.n == 0 || v < h.lowest {
		h.lowest = v
	}
	h.worst = max(h.worst, v)
	h.n++
	h.sum += v
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.lowest < h.lowest {
		h.lowest = o.lowest
	}
	h.worst = max(h.worst, o.worst)
	h.n += o.n
	h.sum += o.sum
}

// quantile is the value below which a share q (0 < q <= 1) of the counts
// lie, in nanoseconds, clamped to the smallest and largest value seen.
func (h *histogram) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := min(max(uint64(q*float64(h.n)+0.5), 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(max(histMid(i), h.lowest), h.worst)
		}
	}
	return h.worst
}

// Latency summarises a set of durations, in microseconds with a resolution
// of 0.1 µs.
type Latency struct {
	Count  uint64  `json:"count"`
	MeanUs float64 `json:"mean_us"`
	P50Us  float64 `json:"p50_us"`
	P90Us  float64 `json:"p90_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
}

func (h *histogram) summary() Latency {
	us := func(ns uint64) float64 { return float64(ns/100) / 10 }
	l := Latency{Count: h.n, P50Us: us(h.quantile(0.50)), P90Us: us(h.quantile(0.90)),
		P99Us: us(h.quantile(0.99)), P999Us: us(h.quantile(0.999)), MaxUs: us(h.worst)}
	if h.n > 0 {
		l.MeanUs = us(h.sum / h.n)
	}
	return l
}

// latencies is a histogram that many goroutines add to: each adds to the
// shard its key picks, so that readers of different connections rarely
// meet on one lock.
type latencies struct {
	shards [16]struct {
		mu sync.Mutex // guards h
		h  histogram
	}
}

func (l *latencies) add(key int, ns int64) {
	s := &l.shards[uint(key)%uint(len(l.shards))]
	s.mu.Lock()
	s.h.add(ns)
	s.mu.Unlock()
}

// total merges the shards; call it once no goroutine adds any more.
func (l *latencies) total() *histogram {
	var t histogram
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		t.merge(&s.h)
		s.mu.Unlock()
	}
	return &t
}
