package audit

import "time"

// SetHTTPTimeouts sets how long a streamed answer waits for a client that
// does not read, and how long it may last in all, until restore is called.
func SetHTTPTimeouts(stall, max time.Duration) (restore func()) {
	s, m := httpStallTimeout, httpMaxDuration
	httpStallTimeout, httpMaxDuration = stall, max
	return func() { httpStallTimeout, httpMaxDuration = s, m }
}
