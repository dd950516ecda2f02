// Package bench measures the cors engine against its peers: rs/cors,
// jub0bs/cors and a floor handler that only assigns fixed headers; and the
// store (BenchmarkStore*): its heap per bucket, PUT latency, cold start,
// bulk load and lookup at 1,000 buckets and at -store-buckets. It is a
// module of its own so that the peers never become dependencies of the
// product.
//
// Every figure that matters is a ratio taken within one run, because the
// machines this runs on are shared and noisy; run.sh runs interleaved rounds
// and prints the ratios against the targets in BENCHMARKS.md.
package bench
