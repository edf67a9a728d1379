package hosts

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// decodeHostsTOML decodes the TOML subset render writes: comments,
// top-level keys, [host."URL"] tables, and values that are basic strings,
// booleans or arrays of basic strings. TOML's basic-string escapes are a
// subset of Go's, so strconv.Unquote decodes them.
func decodeHostsTOML(body []byte) (map[string]any, error) {
	doc := map[string]any{}
	hosts := map[string]map[string]any{}
	var table map[string]any
	sc := bufio.NewScanner(bytes.NewReader(body))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if strings.HasPrefix(text, "[") {
			inner, ok := strings.CutPrefix(text, "[host.")
			if !ok || !strings.HasSuffix(inner, "]") {
				return nil, lineError(line, "unexpected table %s", text)
			}
			name, err := strconv.Unquote(strings.TrimSuffix(inner, "]"))
			if err != nil {
				return nil, lineError(line, "table name %s: %v", text, err)
			}
			if _, dup := hosts[name]; dup {
				return nil, lineError(line, "table %s twice", name)
			}
			table = map[string]any{}
			hosts[name] = table
			continue
		}
		key, raw, ok := strings.Cut(text, " = ")
		if !ok {
			return nil, lineError(line, "not key = value: %s", text)
		}
		var v any
		switch {
		case raw == "true" || raw == "false":
			v = raw == "true"
		case strings.HasPrefix(raw, `"`):
			s, err := strconv.Unquote(raw)
			if err != nil {
				return nil, lineError(line, "%s: %v", key, err)
			}
			v = s
		case strings.HasPrefix(raw, "[[") && strings.HasSuffix(raw, "]]"):
			// An array of string arrays: containerd's client = [[cert, key]].
			var pairs [][]string
			for _, inner := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(raw, "[["), "]]"), "], [") {
				var pair []string
				for _, e := range splitTOMLArray(inner) {
					s, err := strconv.Unquote(e)
					if err != nil {
						return nil, lineError(line, "%s element %s: %v", key, e, err)
					}
					pair = append(pair, s)
				}
				pairs = append(pairs, pair)
			}
			v = pairs
		case strings.HasPrefix(raw, "[") && strings.HasSuffix(raw, "]"):
			var list []string
			for _, e := range splitTOMLArray(strings.TrimSuffix(strings.TrimPrefix(raw, "["), "]")) {
				s, err := strconv.Unquote(e)
				if err != nil {
					return nil, lineError(line, "%s element %s: %v", key, e, err)
				}
				list = append(list, s)
			}
			v = list
		default:
			return nil, lineError(line, "%s: unexpected value %s", key, raw)
		}
		dst := doc
		if table != nil {
			dst = table
		}
		if _, dup := dst[key]; dup {
			return nil, lineError(line, "key %s twice", key)
		}
		dst[key] = v
	}
	if len(hosts) > 0 {
		doc["host"] = hosts
	}
	return doc, sc.Err()
}

// splitTOMLArray splits the inside of an array of basic strings on the
// commas between elements.
func splitTOMLArray(s string) []string {
	var out []string
	var cur strings.Builder
	inString, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case inString && r == '\\':
			escaped = true
		case r == '"':
			inString = !inString
		case !inString && r == ',':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if t := strings.TrimSpace(cur.String()); t != "" {
		out = append(out, t)
	}
	return out
}

func lineError(line int, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}
