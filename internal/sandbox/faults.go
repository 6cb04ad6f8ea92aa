package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/tenure-io/tenure"
)

// Faults configure one app's misbehaviour, for demos and tests. Over HTTP they
// are JSON with camelCase keys and durations as Go duration strings:
// {"latency": "200ms", "errorRate": 0.5, "rateLimit": 2, "retryAfter": "3s",
// "ratePerSecond": 20, "failNext": 1, "failStatus": 400, "failDetail": "..."}.
type Faults struct {
	Latency   time.Duration // added to every request
	ErrorRate float64       // fraction 0..1 of requests answered 503 with a SCIM error body
	RateLimit int           // answer this many next requests with 429 and a Retry-After header
	// RatePerSecond, when set, lets that many requests a second through, as a
	// SaaS API's rate limit does, and answers the rest 429 with a Retry-After
	// of the time until the next one is allowed (a second at least).
	RatePerSecond float64
	RetryAfter    time.Duration // the Retry-After to send (whole seconds, at least 1 s on the wire)
	FailNext      int           // answer this many next requests with FailStatus and FailDetail
	FailStatus    int           // 400 to 599; 400 when FailNext is set and this is not
	FailDetail    string        // the SCIM error's detail for FailNext answers
}

// maxLatency keeps a mistyped latency from hanging every client for hours.
const maxLatency = 5 * time.Minute

type faultsJSON struct {
	Latency    string  `json:"latency,omitempty"`
	ErrorRate  float64 `json:"errorRate,omitempty"`
	RateLimit  int     `json:"rateLimit,omitempty"`
	RetryAfter string  `json:"retryAfter,omitempty"`
	RatePerSec float64 `json:"ratePerSecond,omitempty"`
	FailNext   int     `json:"failNext,omitempty"`
	FailStatus int     `json:"failStatus,omitempty"`
	FailDetail string  `json:"failDetail,omitempty"`
}

// MarshalJSON writes durations as Go duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{
		ErrorRate:  f.ErrorRate,
		RateLimit:  f.RateLimit,
		RatePerSec: f.RatePerSecond,
		FailNext:   f.FailNext,
		FailStatus: f.FailStatus,
		FailDetail: f.FailDetail,
	}
	if f.Latency != 0 {
		j.Latency = f.Latency.String()
	}
	if f.RetryAfter != 0 {
		j.RetryAfter = f.RetryAfter.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads durations as Go duration strings such as "200ms".
func (f *Faults) UnmarshalJSON(data []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return tenure.Errorf(tenure.EINVALID, "faults: %v (durations are strings such as \"200ms\")", err)
	}
	var fields []tenure.FieldError
	parse := func(field, s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			fields = append(fields, tenure.FieldError{Field: field, Problem: "is not a duration such as \"200ms\""})
		}
		return d
	}
	*f = Faults{
		Latency:    parse("latency", j.Latency),
		ErrorRate:  j.ErrorRate,
		RateLimit:  j.RateLimit,
		RetryAfter: parse("retryAfter", j.RetryAfter),

		RatePerSecond: j.RatePerSec,
		FailNext:      j.FailNext,
		FailStatus:    j.FailStatus,
		FailDetail:    j.FailDetail,
	}
	if len(fields) > 0 {
		return tenure.Invalid(fields...)
	}
	return nil
}

// normalize checks f and fills in the defaults it documents.
func (f Faults) normalize() (Faults, error) {
	var fields []tenure.FieldError
	bad := func(field, problem string) {
		fields = append(fields, tenure.FieldError{Field: field, Problem: problem})
	}
	if f.Latency < 0 || f.Latency > maxLatency {
		bad("latency", "must be between 0 and "+maxLatency.String())
	}
	if math.IsNaN(f.ErrorRate) || f.ErrorRate < 0 || f.ErrorRate > 1 {
		bad("errorRate", "must be between 0 and 1")
	}
	if f.RateLimit < 0 {
		bad("rateLimit", "must not be negative")
	}
	if math.IsNaN(f.RatePerSecond) || f.RatePerSecond < 0 {
		bad("ratePerSecond", "must not be negative")
	}
	if f.RetryAfter < 0 {
		bad("retryAfter", "must not be negative")
	}
	if f.FailNext < 0 {
		bad("failNext", "must not be negative")
	}
	if f.FailStatus != 0 && (f.FailStatus < 400 || f.FailStatus > 599) {
		bad("failStatus", "must be an HTTP error status, 400 to 599")
	}
	if len(fields) > 0 {
		return Faults{}, tenure.Invalid(fields...)
	}
	if f.FailNext > 0 && f.FailStatus == 0 {
		f.FailStatus = 400
	}
	return f, nil
}

// retryAfterSeconds is the Retry-After header value: whole seconds, rounded
// up, and never 0, which clients would read as "retry at once".
func (f Faults) retryAfterSeconds() int {
	s := int(math.Ceil(f.RetryAfter.Seconds()))
	return max(s, 1)
}

// String summarises f for logs.
func (f Faults) String() string {
	return fmt.Sprintf("latency=%s errorRate=%g rateLimit=%d retryAfter=%s ratePerSecond=%g failNext=%d failStatus=%d",
		f.Latency, f.ErrorRate, f.RateLimit, f.RetryAfter, f.RatePerSecond, f.FailNext, f.FailStatus)
}
