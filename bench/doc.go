// Package bench holds scimgate's end-to-end benchmarks: they build the
// real binary, load a large directory, drive the server over loopback HTTP
// and report throughput, latency percentiles and memory. Run them with
// ./scripts/bench.sh; BENCHMARKS.md records the method and the figures.
package bench
