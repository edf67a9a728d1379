package inventory

import (
	"strings"
)

// purl builds a package URL (ECMA-427): pkg:type/namespace/name@version?qualifiers.
// A Go module path is split at its last "/" into namespace and name. Each
// segment is percent-encoded ("+" becomes %2B); qualifiers come sorted by
// key, as given, and empty ones are left out.
func purl(typ, namespace, name, version string, quals [][2]string) string {
	if typ == "golang" && namespace == "" {
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			namespace, name = name[:i], name[i+1:]
		}
	}
	var b strings.Builder
	b.WriteString("pkg:")
	b.WriteString(typ)
	b.WriteByte('/')
	if namespace != "" {
		for seg := range strings.SplitSeq(namespace, "/") {
			b.WriteString(purlEscape(seg))
			b.WriteByte('/')
		}
	}
	b.WriteString(purlEscape(name))
	if version != "" {
		b.WriteByte('@')
		b.WriteString(purlEscape(version))
	}
	sep := byte('?')
	for _, q := range quals {
		if q[1] == "" {
			continue
		}
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(q[0])
		b.WriteByte('=')
		b.WriteString(purlEscape(q[1]))
	}
	return b.String()
}

// qualifiers pairs up key, value arguments; callers pass keys in order.
func qualifiers(kv ...string) [][2]string {
	out := make([][2]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, [2]string{kv[i], kv[i+1]})
	}
	return out
}

func purlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == '~' || c == ':' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
