package vendorapi

// WithJitter replaces the random jitter source, so tests can pin backoff.
func WithJitter(f func() float64) Option { return func(c *config) { c.jitter = f } }
