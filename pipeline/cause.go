package pipeline

import (
	"errors"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// jobFailed finds where a Beam runner's job failure starts in an error's
// text: prism's "job job-001 failed:", Dataflow's "job 2026-…_123 failed".
var jobFailed = regexp.MustCompile(`job [^ \n]+ failed:?`)

// planLine is a line of a bundle's plan dump or a DoFn's failure header.
var planLine = regexp.MustCompile(`^(\d+: |DoFn\[.*\] failed:$|bundle inst\S+ stage-\S+ failed|while executing|process bundle failed)`)

// RunnerCause returns err with its text cut down to the first cause of a
// Beam job failure: our own context (e.g. "ingesting from the vendor: ")
// followed by what the failing DoFn returned, on one line, without the
// runner's job and bundle ids, plan dump or repeats. An error that is not
// a job failure keeps its text, on one line. The result wraps err, so
// errors.Is and errors.As see what err holds. RunnerCause(nil) is nil.
func RunnerCause(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	short := runnerCause(msg)
	if short == msg {
		return err
	}
	return &causeError{msg: short, err: err}
}

func runnerCause(msg string) string {
	loc := jobFailed.FindStringIndex(msg)
	if loc == nil {
		return oneLine(msg)
	}
	prefix, rest := msg[:loc[0]], msg[loc[1]:]
	if i := strings.LastIndex(rest, "caused by:"); i >= 0 {
		rest = rest[i+len("caused by:"):]
	}
	var keep []string
	for _, l := range strings.Split(rest, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || planLine.MatchString(l) {
			continue
		}
		keep = append(keep, l)
	}
	cause := oneLine(strings.Join(keep, " "))
	if cause == "" {
		return oneLine(msg)
	}
	return oneLine(prefix) + cause
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\n\t") && !strings.Contains(s, "  ") {
		return s
	}
	lead := strings.HasSuffix(s, " ")
	s = strings.Join(strings.Fields(s), " ")
	if lead && s != "" {
		s += " "
	}
	return s
}

type causeError struct {
	msg string
	err error
}

func (e *causeError) Error() string { return e.msg }
func (e *causeError) Unwrap() error { return e.err }

// vendorCause is the innermost useful text of a failed vendor request:
// "dial tcp 127.0.0.1:1: connect: connection refused" rather than the
// request's URL and the retry policy's story.
func vendorCause(err error) string {
	if op, ok := errors.AsType[*net.OpError](err); ok {
		return op.Error()
	}
	if dns, ok := errors.AsType[*net.DNSError](err); ok {
		return dns.Error()
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err.Error()
	}
	return err.Error()
}

// requestURL is the `Get "https://…": ` of a failed HTTP request's error.
var requestURL = regexp.MustCompile(`(Get|Post|Put|Delete|Head) "[^"]*": `)

// briefErr puts an error's text on one line of about n bytes, without
// request URLs; a longer one keeps its head and its tail, where the first
// cause is ("… dial tcp 127.0.0.1:1: connect: connection refused").
func briefErr(s string, n int) string {
	s = requestURL.ReplaceAllString(strings.Join(strings.Fields(s), " "), "")
	if len(s) <= n {
		return s
	}
	head := n / 3
	return strings.ToValidUTF8(s[:head], "") + " … " + strings.ToValidUTF8(s[len(s)-(n-head):], "")
}
