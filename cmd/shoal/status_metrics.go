package main

import (
	"bufio"
	"bytes"
	"math"
	"strconv"
	"strings"
)

// promSample is one sample line of Prometheus text.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// promSamples is the samples of a /metrics answer.
type promSamples []promSample

// parsePromText reads the sample lines of Prometheus text exposition,
// skipping comments and any line it cannot read: `shoal status` shows
// what it can of a node and never fails on one odd series.
func parsePromText(text []byte) promSamples {
	var out promSamples
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if s, ok := parsePromLine(line); ok {
			out = append(out, s)
		}
	}
	return out
}

// parsePromLine reads `name{k="v",…} value [timestamp]`.
func parsePromLine(line string) (promSample, bool) {
	s := promSample{labels: map[string]string{}}
	end := strings.IndexAny(line, "{ \t")
	if end <= 0 {
		return s, false
	}
	s.name, line = line[:end], line[end:]
	if line[0] == '{' {
		rest, ok := parsePromLabels(line[1:], s.labels)
		if !ok {
			return s, false
		}
		line = rest
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return s, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, false
	}
	s.value = v
	return s, true
}

// parsePromLabels reads `k="v",…}` into labels and returns what follows
// the closing brace.
func parsePromLabels(in string, labels map[string]string) (string, bool) {
	for {
		in = strings.TrimLeft(in, " ,")
		if in == "" {
			return "", false
		}
		if in[0] == '}' {
			return in[1:], true
		}
		eq := strings.IndexByte(in, '=')
		if eq <= 0 || eq+1 >= len(in) || in[eq+1] != '"' {
			return "", false
		}
		key := strings.TrimSpace(in[:eq])
		var val strings.Builder
		i := eq + 2
		for ; i < len(in) && in[i] != '"'; i++ {
			if in[i] == '\\' && i+1 < len(in) {
				i++
				switch in[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(in[i])
				}
				continue
			}
			val.WriteByte(in[i])
		}
		if i >= len(in) {
			return "", false
		}
		labels[key] = val.String()
		in = in[i+1:]
	}
}

// get is the sum of the samples of name whose labels include every
// pair of match (name, value, name, value…), and whether there was any.
func (ps promSamples) get(name string, match ...string) (float64, bool) {
	var sum float64
	found := false
next:
	for _, s := range ps {
		if s.name != name || math.IsNaN(s.value) {
			continue
		}
		for i := 0; i+1 < len(match); i += 2 {
			if s.labels[match[i]] != match[i+1] {
				continue next
			}
		}
		sum += s.value
		found = true
	}
	return sum, found
}
