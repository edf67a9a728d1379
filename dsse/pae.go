// Package dsse holds what the signed documents Shoal makes and checks
// (policies, scan reports, sigstore bundles) have in common: the DSSE
// pre-authentication encoding that a signature covers.
package dsse

import (
	"bytes"
	"strconv"
)

// PAE is DSSE's pre-authentication encoding of a payload and its type,
// "DSSEv1 <len type> <type> <len payload> <payload>": what a DSSE
// signature is over, so that a signature for one payload type can never
// be replayed as another.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(len("DSSEv1") + len(payloadType) + len(payload) + 48)
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}
