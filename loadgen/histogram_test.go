package loadgen

import (
	"math"
	"sort"
	"testing"
)

func TestHistogramBuckets(t *testing.T) {
	// Every value lands in a bucket whose middle is within 1/128 of it,
	// and bucket numbers grow with the value.
	prev := -1
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 65_535, 1 << 20, 123_456_789, 1<<41 - 1} {
		i := histIndex(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d after %d (of %d)", v, i, prev, histBuckets)
		}
		prev = i
		if mid := histMid(i); math.Abs(float64(mid)-float64(v)) > float64(v)/128+0.5 {
			t.Errorf("value %d: bucket %d has middle %d, more than 1/128 away", v, i, mid)
		}
	}
	if i := histIndex(math.MaxUint64); i != histBuckets-1 {
		t.Errorf("the largest value goes to bucket %d, want the last, %d", i, histBuckets-1)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	var vals []float64
	// A spread of values from 1 µs to about 1 s.
	for i := 1; i <= 20_000; i++ {
		v := int64(math.Pow(1.0007, float64(i)) * 1000)
		h.add(v)
		vals = append(vals, float64(v))
	}
	sort.Float64s(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := float64(h.quantile(q))
		if math.Abs(got-want) > want/100 {
			t.Errorf("quantile(%v) = %v, want %v within 1%%", q, got, want)
		}
	}
	if h.quantile(1) != h.worst || h.summary().MaxUs != float64(h.worst/100)/10 {
		t.Errorf("max: quantile(1) %d, worst %d, summary %+v", h.quantile(1), h.worst, h.summary())
	}
	var empty histogram
	if s := empty.summary(); s != (Latency{}) {
		t.Errorf("empty summary = %+v", s)
	}
}

func TestLatenciesMerge(t *testing.T) {
	var l latencies
	for i := range 1000 {
		l.add(i, int64(i)*1000)
	}
	tot := l.total()
	if tot.n != 1000 || tot.lowest != 0 || tot.worst != 999_000 {
		t.Errorf("merged n %d, lowest %d, worst %d; want 1000, 0, 999000", tot.n, tot.lowest, tot.worst)
	}
	if p50 := tot.quantile(0.5); math.Abs(float64(p50)-499_000) > 499_000/100 {
		t.Errorf("p50 = %d, want about 499000", p50)
	}
}
