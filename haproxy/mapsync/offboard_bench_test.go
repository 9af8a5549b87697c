package mapsync

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkOffboarding measures the map-sync promise on a real
// HAProxy running the example configuration: from a SCIM deactivation
// committed (the call returned) to HAProxy refusing the user's session
// cookie. Each iteration deactivates and reactivates one user; only the
// deactivation is timed. It reports the median and the slowest, in ms
// (target: 100 ms).
//
//	go test ./haproxy/mapsync -run '^$' -bench Offboarding -benchtime 200x
func BenchmarkOffboarding(b *testing.B) {
	st := newStack(b, integrationRoutes, Options{})
	f := st.f
	f.User("dave")
	f.Group("eng", "dave")
	_, jwt := st.session(b, "dave")
	addr := st.h.Addr()
	status := func() int { return do(b, addr, "GET", "app.test", "/app/x", cookie(jwt)...).status }
	until := func(want int) time.Duration {
		start := time.Now()
		for status() != want {
			if time.Since(start) > 5*time.Second {
				b.Fatalf("dave still not %d 5s after the change", want)
			}
		}
		return time.Since(start)
	}
	until(200) // the first sync took dave in
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		f.SetActive("dave", false)
		lat = append(lat, until(401))
		b.StopTimer()
		f.SetActive("dave", true)
		_, jwt = st.session(b, "dave") // the deactivation ended the last one
		until(200)
		b.StartTimer()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
}
