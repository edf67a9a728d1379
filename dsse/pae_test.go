package dsse

import "testing"

// The example from the DSSE specification's protocol document.
func TestPAE(t *testing.T) {
	tests := []struct {
		typ, payload, want string
	}{
		{"http://example.com/HelloWorld", "hello world", "DSSEv1 29 http://example.com/HelloWorld 11 hello world"},
		{"", "", "DSSEv1 0  0 "},
		{"a b", "x\ny", "DSSEv1 3 a b 3 x\ny"},
	}
	for _, tt := range tests {
		if got := string(PAE(tt.typ, []byte(tt.payload))); got != tt.want {
			t.Errorf("PAE(%q, %q) = %q, want %q", tt.typ, tt.payload, got, tt.want)
		}
	}
}
