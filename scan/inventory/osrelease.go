package inventory

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// parseOSRelease reads os-release(5): KEY=value lines, values optionally in
// single or double quotes (with backslash escapes in double quotes), "#"
// comments.
func parseOSRelease(data []byte) scan.OSRelease {
	var osr scan.OSRelease
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		value = unquoteOSRelease(strings.TrimSpace(value))
		switch strings.TrimSpace(key) {
		case "ID":
			osr.ID = value
		case "VERSION_ID":
			osr.VersionID = value
		case "VERSION_CODENAME":
			osr.VersionCodename = value
		case "PRETTY_NAME":
			osr.PrettyName = value
		}
	}
	return osr
}

func unquoteOSRelease(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}
