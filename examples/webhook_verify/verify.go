// Verify an iotgw webhook delivery (Standard Webhooks signature), Go standard library only.
//
//	go run examples/webhook_verify/verify.go SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP SIGNATURES < body
//
// Prints "valid" and exits 0, or "invalid: <reason>" and exits 1. Use Verify in your own
// http.Handler with the three headers and the raw body exactly as received (io.ReadAll of
// r.Body, before any JSON decoding).
//
// Not run by the test suite where no Go toolchain is installed; the Python and Node versions
// beside it are tested against payloads signed by the cloud's own signing code.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// ToleranceS refuses deliveries older or newer than this many seconds (replays).
const ToleranceS = 300

// Verify returns "" when the delivery is authentic and fresh, else the reason it is not.
func Verify(secret, msgID, timestamp, signatures string, body []byte, now time.Time) string {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return "webhook-timestamp is not an integer"
	}
	if math.Abs(float64(now.Unix()-ts)) > ToleranceS {
		return "webhook-timestamp is outside the tolerance"
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "the secret is not base64 after whsec_"
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(fmt.Sprintf("%s.%d.", msgID, ts)))
	mac.Write(body)
	expected := mac.Sum(nil)
	for _, candidate := range strings.Fields(signatures) { // several during a secret rotation
		version, value, ok := strings.Cut(candidate, ",")
		if !ok || version != "v1" {
			continue
		}
		given, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(given, expected) {
			return ""
		}
	}
	return "no matching v1 signature"
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: verify SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP SIGNATURES < body")
		os.Exit(2)
	}
	body, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if reason := Verify(os.Args[1], os.Args[2], os.Args[3], os.Args[4], bytes.Clone(body), time.Now()); reason != "" {
		fmt.Println("invalid: " + reason)
		os.Exit(1)
	}
	fmt.Println("valid")
}
