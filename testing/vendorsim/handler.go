package vendorsim

import (
	"bytes"
	"compress/gzip"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SettlementsPath is the only path the simulator serves.
const SettlementsPath = "/v1/settlements"

// Error codes of the error body.
const (
	CodeInvalidRequest = "invalid_request"
	CodeUnauthorized   = "unauthorized"
	CodeCursorExpired  = "cursor_expired"
	CodeRateLimited    = "rate_limited"
	CodeInternal       = "internal"
	codeNotFound       = "not_found"
	codeMethod         = "method_not_allowed"
)

// Kinds of per-request fault draws.
const (
	drawRate429 uint64 = iota + 1
	drawErr5xx
	drawBusy5xx
	drawSlow
	drawErr200
	drawBadJSON
	drawTruncate
	drawReset
	drawStatus
	drawHTML
	drawCut
	drawRetryFormat
)

// pageReq is a validated request for one page.
type pageReq struct {
	c       cursor // the page asked for; a first page has no position
	gteUS   int64  // window in unix microseconds, [gteUS, ltUS)
	ltUS    int64
	nowNS   int64
	now     time.Time
	id      uint64 // identity of the page
	attempt uint32 // requests of this identity before this one
	gzip    bool
}

func (s *Sim) serveHTTP(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.stats.Requests++
	s.mu.Unlock()
	h := w.Header()
	h.Set("X-Request-Id", requestID(hashOf(uint64(s.cfg.Seed), saltRequestID, 0, seq)))
	if r.URL.Path != SettlementsPath {
		s.rateHeaders(h, nil)
		s.writeError(w, http.StatusNotFound, codeNotFound, "no such endpoint")
		return
	}
	if r.Method != http.MethodGet {
		s.rateHeaders(h, nil)
		h.Set("Allow", http.MethodGet)
		s.writeError(w, http.StatusMethodNotAllowed, codeMethod, "only GET is allowed")
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" || (s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Token)) != 1) {
		s.rateHeaders(h, nil)
		s.writeError(w, http.StatusUnauthorized, CodeUnauthorized, "missing or invalid bearer token")
		return
	}

	nowNS := now.UnixNano()
	s.mu.Lock()
	b := s.buckets[token]
	if b == nil {
		b = &bucket{tokens: s.headerBurst(), last: nowNS}
		s.buckets[token] = b
	}
	allowed, wait := b.take(nowNS, s.headerRate(), s.headerBurst(), s.rate > 0)
	snapshot := *b
	s.authorised++
	revoked := s.cfg.RevokeAfter > 0 && s.authorised > s.cfg.RevokeAfter
	s.mu.Unlock()
	s.rateHeaders(h, &snapshot)
	if revoked {
		s.writeError(w, http.StatusForbidden, CodeUnauthorized, "token revoked")
		return
	}
	if !allowed {
		s.count(func(st *Stats) { st.Throttled++ })
		s.writeRateLimited(w, now, wait, hashOf(uint64(s.cfg.Seed), saltRequestID, 1, seq), "request rate exceeded for this token")
		return
	}

	req, status, code, msg := s.parse(r, now)
	if status != 0 {
		s.writeError(w, status, code, msg)
		return
	}
	s.servePage(w, r, req)
}

func (s *Sim) headerRate() float64 {
	if s.rate > 0 {
		return s.rate
	}
	return DocumentedRateLimit
}

func (s *Sim) headerBurst() float64 {
	if s.rate > 0 {
		return s.burst
	}
	return DocumentedBurst
}

// rateHeaders sets the X-RateLimit headers from a bucket snapshot (nil is a
// full bucket). The limit advertised is always the documented one.
func (s *Sim) rateHeaders(h http.Header, b *bucket) {
	rate, burst := s.headerRate(), s.headerBurst()
	tokens := burst
	if b != nil {
		tokens = b.tokens
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(DocumentedRateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(int(math.Floor(max(0, tokens)))))
	h.Set("X-RateLimit-Reset", strconv.Itoa(int(math.Ceil((burst-tokens)/rate))))
}

func requestID(h uint64) string {
	var b [8]byte
	for i := range b {
		b[i] = byte(h >> (8 * i))
	}
	return "req_" + hex.EncodeToString(b[:])
}

// parse validates the query. A non-zero status is the error to answer.
func (s *Sim) parse(r *http.Request, now time.Time) (req pageReq, status int, code, msg string) {
	q := r.URL.Query()
	bad := func(m string) (pageReq, int, string, string) {
		return pageReq{}, http.StatusBadRequest, CodeInvalidRequest, m
	}
	gteText, ltText := q.Get("updated_gte"), q.Get("updated_lt")
	if gteText == "" || ltText == "" {
		return bad("updated_gte and updated_lt are required")
	}
	gte, err := time.Parse(time.RFC3339Nano, gteText)
	if err != nil {
		return bad("updated_gte is not an RFC 3339 time")
	}
	lt, err := time.Parse(time.RFC3339Nano, ltText)
	if err != nil {
		return bad("updated_lt is not an RFC 3339 time")
	}
	switch d := lt.Sub(gte); {
	case d <= 0:
		return bad("updated_lt must be after updated_gte")
	case d > maxWindow:
		return bad("the window may span at most 24 hours")
	}
	limit := DefaultLimit
	if text := q.Get("limit"); text != "" || q.Has("limit") {
		limit, err = strconv.Atoi(text)
		if err != nil || limit < 1 || limit > maxLimit {
			return bad("limit must be an integer in 1..500")
		}
	}
	first := cursor{gte: gte.UnixNano(), lt: lt.UnixNano(), limit: limit}
	c := first
	if q.Has("cursor") {
		c, err = decodeCursor(q.Get("cursor"), uint64(s.cfg.Seed))
		if err != nil {
			return bad("cursor is malformed")
		}
		if c.gte != first.gte || c.lt != first.lt || c.limit != first.limit {
			return bad("updated_gte, updated_lt and limit must equal those of the chain's first request")
		}
		if ttl := s.cfg.Faults.CursorTTL; ttl > 0 && now.UnixNano()-c.issued > int64(ttl) {
			s.count(func(st *Stats) { st.CursorsExpired++ })
			return pageReq{}, http.StatusGone, CodeCursorExpired, "cursor expired; restart the window from its first page"
		}
	}
	req = pageReq{
		c:     c,
		gteUS: ceilDiv(c.gte, 1000),
		ltUS:  ceilDiv(c.lt, 1000),
		nowNS: now.UnixNano(),
		now:   now,
		id:    c.identity(),
		gzip:  acceptsGzip(r.Header.Get("Accept-Encoding")),
	}
	s.mu.Lock()
	req.attempt = s.attempts[req.id]
	s.attempts[req.id]++
	s.mu.Unlock()
	return req, 0, "", ""
}

// ceilDiv divides rounding towards +inf.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a > 0 {
		q++
	}
	return q
}

func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

func (s *Sim) draw(req pageReq, kind uint64) uint64 {
	return hashOf(uint64(s.cfg.Seed), saltFault, req.id, uint64(req.attempt), kind)
}

func (s *Sim) fires(req pageReq, kind uint64, p float64) bool {
	return p > 0 && unit(s.draw(req, kind)) < p
}

func (s *Sim) servePage(w http.ResponseWriter, r *http.Request, req pageReq) {
	f := &s.cfg.Faults
	seed := uint64(s.cfg.Seed)
	w.Header().Set("X-Request-Id", requestID(hashOf(seed, saltRequestID, req.id, uint64(req.attempt))))

	if s.poisoned(req) {
		s.count(func(st *Stats) { st.PoisonFailures++ })
		s.writeServerError(w, req, "upstream unavailable")
		return
	}
	if s.stickyFailing(req) {
		s.count(func(st *Stats) { st.StickyFailures++ })
		if req.attempt%3 == 2 {
			s.writeRateLimited(w, req.now, s.faultRetryAfter(), s.draw(req, drawRetryFormat), "too many requests")
			return
		}
		s.writeError(w, http.StatusServiceUnavailable, CodeInternal, "service unavailable")
		return
	}
	switch {
	case s.fires(req, drawRate429, f.Rate429):
		s.writeRateLimited(w, req.now, s.faultRetryAfter(), s.draw(req, drawRetryFormat), "rate limit exceeded")
		return
	case s.fires(req, drawErr5xx, f.Err5xx):
		s.writeServerError(w, req, "internal error")
		return
	case s.fires(req, drawBusy5xx, f.Busy5xx):
		s.count(func(st *Stats) { st.Busy5xx++ })
		status := http.StatusServiceUnavailable
		if s.draw(req, drawStatus)%2 == 0 {
			status = http.StatusInternalServerError
		}
		s.writeError(w, status, CodeInternal, "too many requests")
		return
	}
	if s.fires(req, drawSlow, f.Slow) && f.SlowDelay > 0 {
		s.count(func(st *Stats) { st.Slow++ })
		t := time.NewTimer(f.SlowDelay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if s.fires(req, drawErr200, f.Err200) {
		s.count(func(st *Stats) { st.Err200++ })
		s.writeJSON(w, http.StatusOK, errorBody(CodeInternal, "upstream request timeout"))
		return
	}

	pg := s.buildPage(req)
	body := pg.body
	if s.fires(req, drawBadJSON, f.BadJSON) {
		s.count(func(st *Stats) { st.BadJSON++ })
		if s.draw(req, drawCut)%2 == 0 {
			body = append(body[:len(body)-1:len(body)-1], ",}"...) // trailing comma
		} else {
			body = append([]byte(")]}'\n"), body...) // anti-XSSI prefix
		}
		s.writeJSON(w, http.StatusOK, body)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Vary", "Accept-Encoding")
	if req.gzip {
		body = gzipBytes(body)
		h.Set("Content-Encoding", "gzip")
	}
	cut := 1 + int(s.draw(req, drawCut)%uint64(max(1, len(body)-1)))
	switch {
	case s.fires(req, drawTruncate, f.Truncate):
		s.count(func(st *Stats) { st.Truncated++; st.ByStatus[http.StatusOK]++ })
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:cut])
		return
	case s.fires(req, drawReset, f.Reset):
		s.count(func(st *Stats) { st.Resets++; st.ByStatus[http.StatusOK]++ })
		s.resetMidBody(w, body, cut)
		return
	}
	s.count(func(st *Stats) {
		st.ByStatus[http.StatusOK]++
		st.Pages++
		st.Records += int64(pg.records)
		st.Duplicates += int64(pg.dups)
		st.Resends += int64(pg.resends)
		st.Junk += int64(pg.junk)
		if pg.empty {
			st.EmptyPages++
		}
		if pg.short {
			st.ShortPages++
		}
	})
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// resetMidBody promises the whole body, sends part of it and closes the
// connection with a TCP reset. Without a hijackable connection (a
// ResponseRecorder) the body is only cut short.
func (s *Sim) resetMidBody(w http.ResponseWriter, body []byte, cut int) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body[:cut])
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	conn, rw, err := rc.Hijack()
	if err != nil {
		return
	}
	_ = rw.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func (s *Sim) poisoned(req pageReq) bool {
	f := &s.cfg.Faults
	if f.Poison > 0 && unit(hashOf(uint64(s.cfg.Seed), saltPoison, req.id)) < f.Poison {
		return true
	}
	if int(req.c.page) != f.PoisonPage {
		return false
	}
	for _, t := range f.PoisonWindows {
		if ns := t.UnixNano(); ns >= req.c.gte && ns < req.c.lt {
			return true
		}
	}
	return false
}

// stickyFailing reports whether the page is in the failing period of a
// sticky fault, which starts at the identity's first request.
func (s *Sim) stickyFailing(req pageReq) bool {
	f := &s.cfg.Faults
	if f.Sticky <= 0 {
		return false
	}
	h := hashOf(uint64(s.cfg.Seed), saltSticky, req.id)
	if unit(h) >= f.Sticky {
		return false
	}
	d := time.Duration(float64(f.StickyFor) * (2.0/3 + 2.0/3*unit(mix64(h))))
	s.mu.Lock()
	since, ok := s.stickySince[req.id]
	if !ok {
		since = req.nowNS
		s.stickySince[req.id] = since
	}
	s.mu.Unlock()
	return req.nowNS-since < int64(d)
}

func (s *Sim) faultRetryAfter() time.Duration {
	if d := s.cfg.Faults.RetryAfter; d > 0 {
		return d
	}
	return time.Second
}

// retryAfter renders a wait in the configured format (h picks one when
// mixed); "" means no header.
func (s *Sim) retryAfter(now time.Time, wait time.Duration, h uint64) string {
	format := s.cfg.Faults.RetryAfterFormat
	if format == RetryAfterMixed {
		format = [...]string{RetryAfterDelta, RetryAfterDate, RetryAfterFraction}[h%3]
	}
	switch format {
	case RetryAfterNone:
		return ""
	case RetryAfterDate:
		at := now.Add(wait)
		if t := at.Truncate(time.Second); t.Before(at) {
			at = t.Add(time.Second)
		}
		return at.UTC().Format(http.TimeFormat)
	case RetryAfterFraction:
		tenths := math.Ceil(wait.Seconds() * 10)
		if math.Mod(tenths, 10) == 0 {
			tenths += 5
		}
		return strconv.FormatFloat(tenths/10, 'f', 1, 64)
	default:
		return strconv.Itoa(int(math.Ceil(wait.Seconds())))
	}
}

func (s *Sim) writeRateLimited(w http.ResponseWriter, now time.Time, wait time.Duration, h uint64, msg string) {
	if v := s.retryAfter(now, wait, h); v != "" {
		w.Header().Set("Retry-After", v)
	}
	s.count(func(st *Stats) { st.RateLimited++ })
	s.writeError(w, http.StatusTooManyRequests, CodeRateLimited, msg)
}

var serverErrors = [...]int{
	http.StatusInternalServerError, http.StatusBadGateway,
	http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

func (s *Sim) writeServerError(w http.ResponseWriter, req pageReq, msg string) {
	status := serverErrors[s.draw(req, drawStatus)%uint64(len(serverErrors))]
	if s.fires(req, drawHTML, s.cfg.Faults.HTML) {
		s.count(func(st *Stats) { st.HTMLErrors++; st.ServerErrors++; st.ByStatus[status]++ })
		text := strconv.Itoa(status) + " " + http.StatusText(status)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" +
			text + "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"))
		return
	}
	s.writeError(w, status, CodeInternal, msg)
}

func errorBody(code, msg string) []byte {
	b, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": msg}})
	return b
}

func (s *Sim) writeError(w http.ResponseWriter, status int, code, msg string) {
	if status >= 500 {
		s.count(func(st *Stats) { st.ServerErrors++ })
	}
	s.writeJSON(w, status, errorBody(code, msg))
}

func (s *Sim) writeJSON(w http.ResponseWriter, status int, body []byte) {
	s.count(func(st *Stats) { st.ByStatus[status]++ })
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Sim) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

var gzipWriters = sync.Pool{New: func() any {
	zw, err := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	if err != nil {
		panic(err) // the level is a valid constant
	}
	return zw
}}

// gzipBytes compresses b; equal inputs give equal outputs.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/4 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	zw.Reset(io.Discard)
	gzipWriters.Put(zw)
	return buf.Bytes()
}

// page is a built 200 body and what went into it.
type page struct {
	body                         []byte
	records, dups, resends, junk int
	empty, short                 bool
}

var junkElements = []string{"null", `"st_broken"`, "42", "[]"}

// buildPage lists the page req asks for, at req.now.
func (s *Sim) buildPage(req pageReq) page {
	f := &s.cfg.Faults
	seed := uint64(s.cfg.Seed)
	nowUS := req.nowNS / 1000
	window := s.index[firstAt(s.index, req.gteUS):firstAt(s.index, req.ltUS)]
	start := 0
	if req.c.hasPos {
		start = after(window, req.c.posT, req.c.posKey, tieRankOf(req.c.posTie), req.c.incl)
	}
	nextVisible := func(i int) int {
		for ; i < len(window); i++ {
			if s.gen.visible(window[i], nowUS) {
				return i
			}
		}
		return i
	}
	ph := hashOf(seed, saltPage, req.id)
	chance := func(k uint64, p float64) bool { return p > 0 && unit(hashOf(ph, k)) < p }

	var pg page
	b := make([]byte, 0, 4096)
	b = append(b, `{"data":[`...)
	next := req.c
	next.page++
	next.issued = req.nowNS
	i := nextVisible(start)
	hasMore := i < len(window)
	switch {
	case !hasMore:
	case chance(1, f.Empty):
		pg.empty = true
	default:
		size := req.c.limit
		if size > 1 && chance(2, f.Short) {
			size = 1 + int(hashOf(ph, 3)%uint64(size-1))
			pg.short = true
		}
		junkAt := -1
		if chance(4, f.Junk) {
			junkAt = int(hashOf(ph, 5) % uint64(size))
		}
		var rec []byte
		var last entry
		haveLast := false
		add := func(elem []byte) bool {
			if pg.records > 0 && len(b)+len(elem)+256 > MaxBodyBytes {
				return false
			}
			if pg.records > 0 {
				b = append(b, ',')
			}
			b = append(b, elem...)
			pg.records++
			return true
		}
		for pg.records < size && i < len(window) {
			if pg.records == junkAt {
				if !add([]byte(junkElements[hashOf(ph, 6)%uint64(len(junkElements))])) {
					break
				}
				pg.junk++
				continue
			}
			e := window[i]
			if !s.gen.visible(e, nowUS) {
				i++
				continue
			}
			idx, v := e.idx(), e.ver()
			fl, pl := s.gen.fields(idx), s.gen.plan(idx)
			rec = s.gen.appendRecord(rec[:0], idx, fl, pl, v)
			if !add(rec) {
				break
			}
			last, haveLast = e, true
			i++
			if v > 0 && v != extraVer && pg.records < size && f.Resend > 0 &&
				unit(hashOf(seed, saltResend, uint64(e.ref))) < f.Resend &&
				nowUS >= pl.t[v-1]+s.gen.lag(idx, v-1) {
				rec = s.gen.appendRecord(rec[:0], idx, fl, pl, v-1)
				if add(rec) {
					pg.resends++
				}
			}
		}
		hasMore = nextVisible(i) < len(window)
		pg.short = pg.short && hasMore
		if haveLast {
			repeated := req.c.hasPos && req.c.incl && last.t == req.c.posT && last.key == req.c.posKey &&
				last.tieRank() == tieRankOf(req.c.posTie)
			next.hasPos, next.posT, next.posKey, next.posTie = true, last.t, last.key, last.tieRank() == 1
			next.incl = hasMore && !repeated && chance(7, f.Duplicate)
			if next.incl {
				pg.dups++
			}
		}
	}
	b = append(b, `],"has_more":`...)
	if hasMore {
		b = append(b, `true,"next_cursor":"`...)
		b = append(b, next.encode(seed)...)
		b = append(b, `"}`...)
	} else {
		b = append(b, `false,"next_cursor":null}`...)
	}
	pg.body = b
	return pg
}

func tieRankOf(posTie bool) int {
	if posTie {
		return 1
	}
	return 0
}
