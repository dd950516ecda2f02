// Command ratios reads the output of several interleaved benchmark rounds
// (run.sh) and prints each target of BENCHMARKS.md as a same-run ratio: the
// ratio is taken within each round, where both sides ran under the same load,
// and the median over the rounds is reported with its range.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// round maps a benchmark name to its metrics by unit ("ns/op", "allocs/op").
type round map[string]map[string]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

func parse(r io.Reader) ([]round, error) {
	var rounds []round
	cur := round{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// Each run of the test binary starts with its goos line: a new round.
		if strings.HasPrefix(line, "goos:") && len(cur) > 0 {
			rounds = append(rounds, cur)
			cur = round{}
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", line, err)
			}
			m[f[i+1]] = v
		}
		cur[name] = m
	}
	if len(cur) > 0 {
		rounds = append(rounds, cur)
	}
	return rounds, sc.Err()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// target is one line of the report: a ratio of two benchmarks' metric (or a
// single metric when den is ""), compared with a limit.
type target struct {
	label    string
	num, den string
	unit     string
	limit    float64 // pass when the median is at most this; < 0: report only
}

func (t target) values(rounds []round) []float64 {
	var out []float64
	for _, r := range rounds {
		n, ok := r[t.num][t.unit]
		if !ok {
			continue
		}
		if t.den == "" {
			out = append(out, n)
			continue
		}
		if d, ok := r[t.den][t.unit]; ok && d != 0 {
			out = append(out, n/d)
		}
	}
	return out
}

const (
	cors    = "BenchmarkCORS/case="
	rules   = "BenchmarkRules/case="
	acrh    = "BenchmarkACRH/acrh="
	hostile = "BenchmarkHostile/doc="
	star    = "BenchmarkHostile/doc=star/list="
)

var targets = []target{
	{"allowed preflight, exact origin + 1 header: engine / rs", cors + "exact/impl=engine", cors + "exact/impl=rs", "ns/op", 0.7},
	{"allowed preflight, wildcard origin + 5 headers: engine / rs", cors + "wildcard/impl=engine", cors + "wildcard/impl=rs", "ns/op", 0.7},
	{"allowed preflight, exact: engine allocs", cors + "exact/impl=engine", "", "allocs/op", 1},
	{"allowed preflight, wildcard: engine allocs", cors + "wildcard/impl=engine", "", "allocs/op", 1},
	{"disallowed preflight: engine / jub0bs", cors + "disallowed/impl=engine", cors + "disallowed/impl=jub0bs", "ns/op", 0.6},
	{"disallowed preflight: engine allocs", cors + "disallowed/impl=engine", "", "allocs/op", 0},
	{"100 rules / 1 rule, exact, last rule matches", rules + "exact/rules=100", rules + "exact/rules=1", "ns/op", 3},
	{"100 rules / 1 rule, wildcard, last rule matches", rules + "wildcard/rules=100", rules + "wildcard/rules=1", "ns/op", 3},
	{"100 rules / 1 rule, no rule matches", rules + "disallowed/rules=100", rules + "disallowed/rules=1", "ns/op", 3},
	{"100 rules / 1 rule, actual GET, last rule matches", rules + "actual-get/rules=100", rules + "actual-get/rules=1", "ns/op", 3},
	{"100 rules / 1 rule, every rule a candidate", rules + "all-candidates/rules=100", rules + "all-candidates/rules=1", "ns/op", 3},
	{"1 MiB ACRH on one line / ACRH at the cap", acrh + "1MiB-one-line/impl=engine", acrh + "at-cap/impl=engine", "ns/op", 1},
	{"1 MiB ACRH on 1024 lines / ACRH at the cap", acrh + "1MiB-1024-lines/impl=engine", acrh + "at-cap/impl=engine", "ns/op", 1},
	{"1 MiB ACRH on one line: engine allocs", acrh + "1MiB-one-line/impl=engine", "", "allocs/op", 0},
	{"1 MiB ACRH on 1024 lines: engine allocs", acrh + "1MiB-1024-lines/impl=engine", "", "allocs/op", 0},
	{"8 KiB ACRH, worst document for the index's walk (trie2^8) / one-rule *", hostile + "trie2^8", star + "trie2^8", "ns/op", 10},
	{"8 KiB ACRH, worst document for the index's walk (trie3^5) / one-rule *", hostile + "trie3^5", star + "trie3^5", "ns/op", 10},
	{"8 KiB ACRH, worst document for both walks (trie2^8+8) / one-rule *", hostile + "trie2^8+8", star + "trie2^8+8", "ns/op", 10},
	{"8 KiB ACRH, worst document for the length condition (chains) / one-rule *", hostile + "chains", star + "chains", "ns/op", 10},
	{"8 KiB ACRH, worst document for name-by-pattern matching (scan) / one-rule *", hostile + "scan", star + "scan", "ns/op", 10},
	{"8 KiB ACRH refused by trie2^8: engine allocs", hostile + "trie2^8", "", "allocs/op", 0},
	{"8 KiB ACRH refused by trie3^5: engine allocs", hostile + "trie3^5", "", "allocs/op", 0},
	{"8 KiB ACRH refused by trie2^8+8: engine allocs", hostile + "trie2^8+8", "", "allocs/op", 0},
	{"8 KiB ACRH refused by chains: engine allocs", hostile + "chains", "", "allocs/op", 0},
	{"8 KiB ACRH refused by scan: engine allocs", hostile + "scan", "", "allocs/op", 0},
	{"heap per compiled single-rule bucket, with map entry and name (B)", "BenchmarkBuckets/impl=snapshot", "", "B/bucket", 512},
	{"heap per compiled single-rule policy alone (B)", "BenchmarkBuckets/impl=snapshot", "", "B/policy", 512},
	// Context, not targets.
	{"allowed preflight, exact: engine / floor", cors + "exact/impl=engine", cors + "exact/impl=floor", "ns/op", -1},
	{"allowed preflight, exact: engine / floor-fresh", cors + "exact/impl=engine", cors + "exact/impl=floor-fresh", "ns/op", -1},
	{"allowed preflight, exact: floor-fresh / rs", cors + "exact/impl=floor-fresh", cors + "exact/impl=rs", "ns/op", -1},
	{"allowed preflight, wildcard: floor-fresh / rs", cors + "wildcard/impl=floor-fresh", cors + "wildcard/impl=rs", "ns/op", -1},
	{"allowed preflight, exact: engine / jub0bs", cors + "exact/impl=engine", cors + "exact/impl=jub0bs", "ns/op", -1},
	{"allowed preflight, wildcard: engine / jub0bs", cors + "wildcard/impl=engine", cors + "wildcard/impl=jub0bs", "ns/op", -1},
	{"disallowed preflight: engine / rs", cors + "disallowed/impl=engine", cors + "disallowed/impl=rs", "ns/op", -1},
	{"disallowed preflight: engine / floor", cors + "disallowed/impl=engine", cors + "disallowed/impl=floor", "ns/op", -1},
	{"actual GET: engine / rs", cors + "actual-get/impl=engine", cors + "actual-get/impl=rs", "ns/op", -1},
	{"actual GET: engine / floor-fresh", cors + "actual-get/impl=engine", cors + "actual-get/impl=floor-fresh", "ns/op", -1},
	{"1 MiB ACRH on 1024 lines: engine / jub0bs", acrh + "1MiB-1024-lines/impl=engine", acrh + "1MiB-1024-lines/impl=jub0bs", "ns/op", -1},
	{"bucket lookup among 100k: snapshot / bare map", "BenchmarkBuckets/impl=snapshot", "BenchmarkBuckets/impl=map", "ns/op", -1},
	{"heap per compiled policy: one rule naming eight headers (B)", "BenchmarkHostileHeap/doc=rule", "", "B/policy", -1},
	{"heap per compiled policy: trie2^8 (B)", "BenchmarkHostileHeap/doc=trie2^8", "", "B/policy", -1},
	{"heap per compiled policy: trie3^5 (B)", "BenchmarkHostileHeap/doc=trie3^5", "", "B/policy", -1},
	{"heap per compiled policy: trie2^8+8 (B)", "BenchmarkHostileHeap/doc=trie2^8+8", "", "B/policy", -1},
	{"heap per compiled policy: chains (B)", "BenchmarkHostileHeap/doc=chains", "", "B/policy", -1},
	{"heap per compiled policy: scan (B)", "BenchmarkHostileHeap/doc=scan", "", "B/policy", -1},
}

func main() {
	rounds, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
	fmt.Printf("%d rounds; each ratio is taken within a round, then the median (and range) over rounds.\n\n", len(rounds))
	fmt.Printf("| %-66s | %8s | %-17s | %6s | %-6s |\n", "target", "median", "range", "limit", "result")
	fmt.Printf("|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 68), strings.Repeat("-", 10), strings.Repeat("-", 19), strings.Repeat("-", 8), strings.Repeat("-", 8))
	missed := 0
	for _, t := range targets {
		v := t.values(rounds)
		if len(v) == 0 {
			fmt.Printf("| %-66s | %8s | %-17s | %6s | %-6s |\n", t.label, "-", "no data", "", "")
			continue
		}
		m := median(v)
		limit, result := "", "info"
		if t.limit >= 0 {
			limit, result = strconv.FormatFloat(t.limit, 'g', -1, 64), "met"
			if m > t.limit {
				result = "MISSED"
				missed++
			}
		}
		fmt.Printf("| %-66s | %8.3g | %-17s | %6s | %-6s |\n", t.label, m,
			fmt.Sprintf("%.3g .. %.3g", slices.Min(v), slices.Max(v)), limit, result)
	}
	fmt.Printf("\n%d target(s) missed.\n", missed)
}
